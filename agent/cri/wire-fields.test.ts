import t from 'tap';
import { fieldEnds } from './wire-fields.ts';

const bytes = (...xs: number[]): Buffer => Buffer.from(xs);

const cases: { name: string; message: Buffer; ends: number[] | undefined }[] = [
  { name: 'an empty message has no fields', message: bytes(), ends: [] },
  {
    name: 'a varint field (field 1 = 150)',
    message: bytes(0x08, 0x96, 0x01),
    ends: [3],
  },
  {
    name: 'fixed64, fixed32 and length-delimited fields in a row',
    message: bytes(
      ...[0x11, 1, 2, 3, 4, 5, 6, 7, 8], // field 2, fixed64
      ...[0x1d, 1, 2, 3, 4], // field 3, fixed32
      ...[0x22, 0x02, 0x68, 0x69], // field 4, "hi"
    ),
    ends: [9, 14, 18],
  },
  {
    name: 'a repeated field is one field per element',
    message: bytes(0x0a, 0x01, 0x61, 0x0a, 0x00, 0x0a, 0x02, 0x62, 0x63),
    ends: [3, 5, 9],
  },
  {
    name: 'a length written with two varint bytes (200)',
    message: Buffer.concat([bytes(0x0a, 0xc8, 0x01), Buffer.alloc(200, 0x41)]),
    ends: [203],
  },
  {
    name: 'a field number above 2^28 (tag of five varint bytes)',
    message: bytes(0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01),
    ends: [6],
  },
  { name: 'a length past the end', message: bytes(0x0a, 0x05, 0x61), ends: undefined },
  { name: 'a tag cut short', message: bytes(0x0a, 0x00, 0x80), ends: undefined },
  { name: 'a varint value cut short', message: bytes(0x08, 0xff), ends: undefined },
  { name: 'a fixed64 value cut short', message: bytes(0x09, 1, 2, 3), ends: undefined },
  { name: 'field number 0', message: bytes(0x02, 0x00), ends: undefined },
  { name: 'a group (wire type 3)', message: bytes(0x0b, 0x0c), ends: undefined },
  { name: 'wire type 7 does not exist', message: bytes(0x0f), ends: undefined },
  {
    name: 'a varint longer than 10 bytes',
    message: bytes(0x08, ...Array<number>(11).fill(0xff), 0x01),
    ends: undefined,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(fieldEnds(c.message), c.ends);
  });
}
