#!/usr/bin/env node
// Compiles the project's Solidity with the pinned solcjs (standard JSON) into hardhat-style artifacts that
// alloy's `sol!` macro reads. No forge needed, and the output is byte-for-byte reproducible.
//
//   node contracts/build.mjs            compile contracts/src/*.sol and contracts/test-helpers/*.sol
//                                       -> contracts/artifacts/<Name>.json
//   node contracts/build.mjs --check    exit 1 if the committed artifacts differ from a fresh compile
//   node contracts/build.mjs --vendor   compile Chainlink's MockV3Aggregator and, with solc 0.7.6, the
//                                       OracleLibrary harness (contracts/test-helpers-0.7) -> .tools/artifacts/
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tools = path.join(root, '.tools');
const srcDir = path.join(root, 'contracts', 'src');
// Contracts that only tests deploy (ERC-20 tokens, a Uniswap V3 callback caller): built and checked like
// the project's own, so their artifacts never drift from their source either.
const testHelpersDir = path.join(root, 'contracts', 'test-helpers');
const artifactsDir = path.join(root, 'contracts', 'artifacts');
// Test helpers that wrap Uniswap's 0.7 libraries (OracleLibrary): compiled with solc 0.7.6 at setup
// time into .tools/artifacts, like the third-party contracts they exist to reach.
const testHelpers07Dir = path.join(root, 'contracts', 'test-helpers-0.7');
const vendorDir = path.join(tools, 'artifacts');
const FIX_COMMAND = 'node contracts/build.mjs';

// Import prefixes -> directories. Source unit names stay root-relative or package-style (never absolute),
// because they end up in the metadata hash inside the bytecode.
const IMPORT_PREFIXES = [
  ['@openzeppelin/', path.join(tools, 'node_modules', '@openzeppelin')],
  ['@chainlink/contracts/', path.join(tools, 'chainlink', 'package')],
  ['@uniswap/', path.join(tools, 'node_modules', '@uniswap')],
];
const MOCK_V3_AGGREGATOR = '@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol';

const requireFromTools = createRequire(path.join(tools, 'node_modules', 'noop.js'));
let solc;
try {
  solc = requireFromTools('solc');
} catch {
  fail(`solcjs not found under ${path.join(tools, 'node_modules')}: run scripts/setup.sh first`);
}
let solc07 = null;
try {
  solc07 = requireFromTools('solc07');
} catch {
  // Only --vendor needs it; it says so there.
}

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

function resolveImport(unitName) {
  for (const [prefix, dir] of IMPORT_PREFIXES) {
    if (unitName.startsWith(prefix)) return path.join(dir, unitName.slice(prefix.length));
  }
  return path.join(root, unitName);
}

function readImport(unitName) {
  const file = resolveImport(unitName);
  // Refuse anything that normalises outside the directory it was mapped to (e.g. "../../etc/x").
  const allowed = [root, ...IMPORT_PREFIXES.map(([, dir]) => dir)];
  if (!allowed.some((dir) => file.startsWith(dir + path.sep))) return { error: `import outside the project: ${unitName}` };
  try {
    return { contents: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    return { error: `cannot read ${unitName} (${file}): ${e.code ?? e.message}` };
  }
}

/** Compiles the given source units; returns {unitName: {contractName: {abi, bytecode, deployedBytecode}}}. */
function compile(unitNames, compiler = solc, evmVersion = 'cancun') {
  const sources = {};
  const outputSelection = {};
  for (const unit of unitNames) {
    const loaded = readImport(unit);
    if (loaded.error) fail(loaded.error);
    sources[unit] = { content: loaded.contents };
    outputSelection[unit] = { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion, outputSelection },
  };
  const output = JSON.parse(compiler.compile(JSON.stringify(input), { import: readImport }));
  const problems = output.errors ?? [];
  for (const p of problems.filter((p) => p.severity !== 'error')) console.error(p.formattedMessage ?? p.message);
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) {
    for (const e of errors) console.error(e.formattedMessage ?? e.message);
    fail(`compilation failed with ${errors.length} error(s)`);
  }
  return output.contracts ?? {};
}

/** Builds {fileName: text} for every contract defined in the given units (not the ones they import). */
function renderArtifacts(unitNames, compiler = solc, evmVersion = 'cancun') {
  const contracts = compile(unitNames, compiler, evmVersion);
  const label = `solc ${compiler.version().split('+')[0]}`;
  const files = {};
  for (const unit of unitNames) {
    for (const [name, c] of Object.entries(contracts[unit] ?? {})) {
      const file = `${name}.json`;
      if (files[file]) fail(`two contracts named ${name}: artifacts would collide`);
      const artifact = {
        contractName: name,
        sourceName: unit,
        compiler: label,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      };
      files[file] = `${JSON.stringify(artifact, null, 2)}\n`;
    }
  }
  return files;
}

function unitsIn(dir) {
  if (!fs.existsSync(dir)) return [];
  const rel = path.relative(root, dir).split(path.sep).join('/');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sol'))
    .sort()
    .map((f) => `${rel}/${f}`);
}

function projectUnits() {
  return [...unitsIn(srcDir), ...unitsIn(testHelpersDir)];
}

function existingArtifacts() {
  if (!fs.existsSync(artifactsDir)) return [];
  return fs.readdirSync(artifactsDir).filter((f) => f.endsWith('.json')).sort();
}

function writeArtifacts(dir, files, pruneStale) {
  fs.mkdirSync(dir, { recursive: true });
  if (pruneStale) {
    for (const f of existingArtifacts()) {
      if (!(f in files)) {
        fs.rmSync(path.join(dir, f));
        console.log(`removed stale ${path.relative(root, path.join(dir, f))}`);
      }
    }
  }
  for (const [f, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, f), text);
    console.log(`wrote ${path.relative(root, path.join(dir, f))}`);
  }
}

function check() {
  const files = renderArtifacts(projectUnits());
  const problems = [];
  for (const [f, text] of Object.entries(files)) {
    const file = path.join(artifactsDir, f);
    if (!fs.existsSync(file)) problems.push(`missing: ${path.relative(root, file)}`);
    else if (fs.readFileSync(file, 'utf8') !== text) problems.push(`differs: ${path.relative(root, file)}`);
  }
  for (const f of existingArtifacts()) {
    if (!(f in files)) problems.push(`extra (no such contract in contracts/src or contracts/test-helpers): contracts/artifacts/${f}`);
  }
  if (problems.length > 0) {
    console.error('Solidity artifacts are out of date:');
    for (const p of problems) console.error(`  ${p}`);
    console.error(`Fix: run \`${FIX_COMMAND}\` and commit contracts/artifacts/.`);
    process.exit(1);
  }
  console.log(`artifacts up to date (${Object.keys(files).length} contract(s))`);
}

const args = process.argv.slice(2);
if (args.length === 0) {
  writeArtifacts(artifactsDir, renderArtifacts(projectUnits()), true);
} else if (args.length === 1 && args[0] === '--check') {
  check();
} else if (args.length === 1 && args[0] === '--vendor') {
  writeArtifacts(vendorDir, renderArtifacts([MOCK_V3_AGGREGATOR]), false);
  if (!solc07) fail(`solc 0.7.6 (npm alias solc07) not found under ${path.join(tools, 'node_modules')}: run scripts/setup.sh`);
  writeArtifacts(vendorDir, renderArtifacts(unitsIn(testHelpers07Dir), solc07, 'istanbul'), false);
} else {
  console.error('usage: node contracts/build.mjs [--check | --vendor]');
  process.exit(2);
}
