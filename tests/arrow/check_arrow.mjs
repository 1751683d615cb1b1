// Reads an Arrow IPC file written by prismio with two independent readers
// (apache-arrow through its file path and its stream path, and
// @uwdata/flechette) and checks the schema, the row count, the metadata and
// every value against the oracle's JSON (tests/arrow/holo_json.c).
//
// usage: node check_arrow.mjs FILE.arrow EXPECTED.json
// (run from a directory whose node_modules holds both packages)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(pathToFileURL(process.cwd() + '/').href);
const arrow = require('apache-arrow');
const flechette = await import(pathToFileURL(require.resolve('@uwdata/flechette')).href);

const [file, expectFile] = process.argv.slice(2);
const buf = readFileSync(file);
const want = JSON.parse(readFileSync(expectFile, 'utf8'));
let failures = 0;
function fail(msg) {
  if (failures++ < 20) console.error(`${file}: ${msg}`);
}

// Any value (BigInt, typed array, vector, nested list) as a flat array of
// numbers, a number, a string, or null.
function flat(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' || typeof v === 'string') return v;
  const out = [];
  for (const x of v) {
    const f = flat(x);
    if (Array.isArray(f)) out.push(...f);
    else out.push(f);
  }
  return out;
}

function same(type, got, exp) {
  if (exp === null || got === null) return exp === got;
  const f32 = type.includes('Float32');
  const eq = (a, b) => (f32 ? Math.fround(b) === a : a === b);
  if (!Array.isArray(exp)) return eq(got, exp);
  if (!Array.isArray(got) || got.length !== exp.length) return false;
  for (let i = 0; i < exp.length; i++) if (!eq(got[i], exp[i])) return false;
  return true;
}

function flechetteType(t) {
  switch (t.typeId) {
    case 2: return `Int${t.bitWidth}`;
    case 3: return t.precision === 1 ? 'Float32' : 'Float64';
    case 5: return 'Utf8';
    case 12: return `List<${flechetteType(t.children[0].type)}>`;
    case 16: return `FixedSizeList[${t.stride}]<${flechetteType(t.children[0].type)}>`;
    default: return `type${t.typeId}`;
  }
}

function check(label, table, typeOf, column) {
  if (table.numRows !== want.rows) fail(`${label}: ${table.numRows} rows, want ${want.rows}`);
  const fields = table.schema.fields;
  if (fields.length !== want.fields.length)
    fail(`${label}: ${fields.length} columns, want ${want.fields.length}`);
  want.fields.forEach(([name, type], i) => {
    const f = fields[i];
    if (!f || f.name !== name || typeOf(f.type) !== type)
      fail(`${label}: column ${i} is ${f && f.name}:${f && typeOf(f.type)}, want ${name}:${type}`);
  });
  for (const [k, v] of Object.entries(want.metadata))
    if (table.schema.metadata.get(k) !== v) fail(`${label}: metadata ${k} = ${table.schema.metadata.get(k)}`);
  let checked = 0;
  for (const [name, type] of want.fields) {
    const col = column(table, name);
    const exp = want.columns[name];
    for (let r = 0; r < want.rows; r++) {
      if (!same(type, flat(col(r)), exp[r])) {
        fail(`${label}: ${name}[${r}] = ${JSON.stringify(flat(col(r)))?.slice(0, 80)}, want ${JSON.stringify(exp[r])?.slice(0, 80)}`);
        break;
      }
      checked++;
    }
  }
  console.log(`${label}: ${want.rows} rows, ${fields.length} columns, ${checked} values checked`);
}

const arrowColumn = (t, name) => {
  const c = t.getChild(name);
  return (r) => c.get(r);
};
check('apache-arrow file', arrow.tableFromIPC(buf), (t) => String(t), arrowColumn);
check('apache-arrow stream', arrow.tableFromIPC(buf.subarray(8)), (t) => String(t), arrowColumn);
const ft = flechette.tableFromIPC(buf);
check('flechette', ft, flechetteType, (t, name) => {
  const c = t.getChild(name);
  return (r) => c.at(r);
});
process.exit(failures ? 1 : 0);
