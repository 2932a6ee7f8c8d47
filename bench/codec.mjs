// `make bench`: the same encode/decode as shared/statuslist/examples/codec_bench.rs, with the npm
// library @sd-jwt/jwt-status-list (TSL: ZLIB level 9 through pako), on the same statuses.
//   node bench/codec.mjs <data dir> [runs]      prints JSON; fails if it cannot decode our lst
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), ".tools/bench-node/package.json"));
const { StatusList } = require("@sd-jwt/jwt-status-list");
const pako = require("pako"); // what the library compresses with

const [dir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 5);
const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
const time = (f) => {
  let out;
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    out = f();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return [median(ms), out];
};

const report = {};
for (const bits of [1, 2, 4, 8]) {
  const values = Array.from(readFileSync(join(dir, `values-${bits}.bin`)));
  const [enc, lst] = time(() => new StatusList(values.slice(), bits).compressStatusList());
  const [dec, back] = time(() => StatusList.decompressStatusList(lst, bits).statusList);
  const ours = readFileSync(join(dir, `lst-${bits}.txt`), "utf8");
  const decodedOurs = StatusList.decompressStatusList(ours, bits).statusList;
  for (let i = 0; i < values.length; i++) {
    if (back[i] !== values[i] || decodedOurs[i] !== values[i]) {
      throw new Error(`bits ${bits}: status ${i} differs`);
    }
  }
  // The library's compression step alone, on our packed bytes: the part no packing speeds up.
  const packed = readFileSync(join(dir, `packed-${bits}.bin`));
  const [deflate, z] = time(() => pako.deflate(packed, { level: 9 }));
  const [inflate] = time(() => pako.inflate(z));
  report[bits] = { runs, tsl_encode_ms: enc, tsl_decode_ms: dec, lst_chars: lst.length,
                   pako_deflate9_ms: deflate, pako_inflate_ms: inflate };
}
console.log(JSON.stringify(report));
