import t from 'tap';
import { loadCriServices } from './proto.ts';
import { RepeatCheck } from './repeat-check.ts';

// Real ListImagesResponse bytes, as proto-loader encodes them (the same encoding as the runtimes).
const listImages = loadCriServices('v1').ImageService.service.ListImages;
if (listImages === undefined) throw new Error('no ListImages in the v1 proto');

interface Image {
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly size: string;
}
const image = (n: number, tags = [`registry.example.com/app:${n}`]): Image => ({
  id: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  repoTags: tags,
  size: String(1000 * n),
});
const response = (images: readonly Image[]): Buffer => listImages.responseSerialize({ images });

const [a, b, c] = [image(1), image(2), image(3)];

const cases: { name: string; previous: Buffer; next: Buffer; repeat: boolean }[] = [
  {
    name: 'the same images in the same order',
    previous: response([a, b, c]),
    next: response([a, b, c]),
    repeat: true,
  },
  {
    name: 'the same images in another order (containerd lists from a map)',
    previous: response([a, b, c]),
    next: response([c, a, b]),
    repeat: true,
  },
  { name: 'an empty cache twice', previous: response([]), next: response([]), repeat: true },
  { name: 'one image more', previous: response([a, b]), next: response([a, b, c]), repeat: false },
  { name: 'one image less', previous: response([a, b, c]), next: response([a, c]), repeat: false },
  {
    name: 'one image replaced by another',
    previous: response([a, b]),
    next: response([a, c]),
    repeat: false,
  },
  {
    name: 'a tag added to an image',
    previous: response([a, b]),
    next: response([
      a,
      image(2, ['registry.example.com/app:2', 'registry.example.com/app:latest']),
    ]),
    repeat: false,
  },
  {
    name: 'the same count, but another image listed twice',
    previous: response([a, a, b]),
    next: response([a, b, b]),
    repeat: false,
  },
  {
    name: 'an image listed twice, both times',
    previous: response([a, b, a]),
    next: response([a, a, b]),
    repeat: true,
  },
  {
    name: 'bytes that are not protobuf',
    previous: response([a]),
    next: Buffer.from([0x0a, 0x7f]),
    repeat: false,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const check = new RepeatCheck();
    t.equal(check.isRepeat(c.previous), false, 'the first response is never a repeat');
    t.equal(check.isRepeat(c.next), c.repeat);
  });
}

t.test('a response is compared with the one just before it, not the first one', async (t) => {
  const check = new RepeatCheck();
  check.isRepeat(response([a]));
  t.equal(check.isRepeat(response([a, b])), false);
  t.equal(check.isRepeat(response([b, a])), true);
  t.equal(check.isRepeat(response([a])), false);
});

t.test('after bytes it cannot read, the next response is not taken as a repeat', async (t) => {
  const check = new RepeatCheck();
  check.isRepeat(response([a]));
  check.isRepeat(Buffer.from([0xff]));
  t.equal(check.isRepeat(response([a])), false);
  t.equal(check.isRepeat(response([a])), true);
});
