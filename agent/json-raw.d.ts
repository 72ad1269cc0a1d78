// JSON.rawJSON ships in Node >= 21 (V8's JSON.parse source text access) but not yet in
// TypeScript's lib files. It lets bigint sizes be written as exact JSON numbers.
interface JSON {
  rawJSON(text: string): unknown;
}
