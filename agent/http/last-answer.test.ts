// The last answer is served again exactly while it would be made from the same things.
import t from 'tap';
import { LastAnswer } from './last-answer.ts';

t.test('a body is made again exactly when what it is made from changes', async (t) => {
  const a = { id: 'a' };
  const b = { id: 'b' };
  const cases: { name: string; next: readonly unknown[]; makes: boolean }[] = [
    { name: 'the same question and objects', next: ['?q', false, a, b], makes: false },
    { name: 'another question', next: ['?r', false, a, b], makes: true },
    { name: 'stale now', next: ['?q', true, a, b], makes: true },
    { name: 'an object replaced by an equal copy', next: ['?q', false, a, { ...b }], makes: true },
    { name: 'an object fewer', next: ['?q', false, a], makes: true },
  ];
  for (const c of cases) {
    const answer = new LastAnswer();
    let made = 0;
    const make = (from: readonly unknown[]) => () => `${String(++made)}:${String(from.length)}`;
    const first: readonly unknown[] = ['?q', false, a, b];
    t.equal(answer.body(first, make(first)).toString(), '1:4', `${c.name}: first answer made`);
    t.equal(
      answer.body(c.next, make(c.next)).toString(),
      c.makes ? `2:${String(c.next.length)}` : '1:4',
      c.name,
    );
  }
});

t.test('a list changed in place after answering is not taken for the one answered', async (t) => {
  const answer = new LastAnswer();
  const from: unknown[] = ['?q'];
  answer.body(from, () => 'first');
  from.push({ id: 'new' });
  t.equal(answer.body(from, () => 'second').toString(), 'second');
});
