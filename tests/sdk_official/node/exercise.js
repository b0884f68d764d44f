// Runs every method the official Node SDK (npm "plivo") exposes on masking sessions, the
// account, subaccounts, numbers, calls and recordings against a live VTS service, and
// prints what each answered (or the error it raised) as one JSON object keyed by step.
// tests/sdk_official/test_node_sdk.py runs it and asserts on the values.
//
//   node exercise.js world.json
//
// world.json: {url, main: {authId, authToken}, sub: {authId}, parties: [...],
// callSession, inboundLeg, outboundLeg, recordingId, spareRecordings: [...], liveLeg,
// subNumbers: [...], poolNumbers: [...]}.
//
// Aiming the SDK at the service: the client's `url` option serves the account,
// subaccounts and numbers. Requests the SDK marks as voice requests (sessions, calls,
// recordings) ignore it and go to a hard-coded https://api.plivo.com/v1/Account/ (a
// defect of the SDK, rest/axios.js); the workaround, as a customer would write it, is
// an axios adapter that sends that origin to the service instead (`aim` below).
"use strict";

const fs = require("fs");
const path = require("path");
const plivo = require("plivo");

const HOSTED = "https://api.plivo.com";

function aim(base) {
  // The axios the SDK uses (resolved from its own folder), so the adapter is the one it
  // calls; axios.create() instances inherit axios.defaults, which the SDK relies on too.
  const axios = require(require.resolve("axios", { paths: [path.dirname(require.resolve("plivo"))] }));
  const http = axios.getAdapter("http");
  axios.defaults.adapter = (config) => {
    if (config.url.startsWith(HOSTED + "/")) {
      config.url = base + config.url.slice(HOSTED.length);
    }
    return http(config);
  };
}

// What a step answered, as plain JSON: own enumerable fields, lists with their meta.
function plain(value) {
  if (Array.isArray(value)) {
    const out = { items: value.map(plain) };
    if (value.meta !== undefined) out.meta = value.meta;
    return out;
  }
  if (value && typeof value === "object") {
    const out = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v !== "function") out[key] = v;
    }
    return out;
  }
  return value;
}

function failure(err) {
  if (err && typeof err === "object") {
    return { name: err.constructor && err.constructor.name, status: err.status, message: err.message };
  }
  return { name: typeof err, message: String(err) };
}

async function main() {
  const world = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  aim(world.url);
  const client = new plivo.Client(world.main.authId, world.main.authToken, {
    url: `${world.url}/v1/Account/${world.main.authId}`,
  });
  const results = {};
  const parties = world.parties.slice();
  const party = () => parties.shift();

  async function step(name, fn) {
    try {
      results[name] = { ok: true, value: plain(await fn()) };
    } catch (err) {
      results[name] = { ok: false, error: failure(err) };
    }
    return results[name];
  }
  const value = (name) => (results[name] && results[name].ok ? results[name].value : {});

  // -- masking sessions ---------------------------------------------------------------
  const ms = client.maskingSession;
  await step("maskingSession.createMaskingSession", () =>
    ms.createMaskingSession(party(), party(), {
      sessionExpiry: 600,
      callTimeLimit: 120,
      ringTimeout: 30,
      record: true,
      recordFileFormat: "wav",
      recordingCallbackUrl: "https://example.com/rec",
      callbackUrl: "https://example.com/cb",
      callbackMethod: "GET",
      virtualNumberCooloffPeriod: 5,
    })
  );
  await step("maskingSession.createMaskingSession subAccount", () =>
    ms.createMaskingSession(party(), party(), { subAccount: world.sub.authId, geoMatch: true })
  );
  await step("maskingSession.createMaskingSession geoMatch false", () =>
    ms.createMaskingSession(party(), party(), { geoMatch: false })
  );
  await step("maskingSession.createMaskingSession single party", () =>
    ms.createMaskingSession(party(), undefined, { createSessionWithSingleParty: true })
  );
  const created = value("maskingSession.createMaskingSession").sessionUuid;
  await step("maskingSession.getMaskingSession", () => ms.getMaskingSession(world.callSession.session_uuid));
  await step("maskingSession.updateMaskingSession", () =>
    ms.updateMaskingSession(created, { callTimeLimit: 3600, ringTimeout: 45, record: true })
  );
  await step("maskingSession.getMaskingSession after update", () => ms.getMaskingSession(created));
  const shown = world.callSession.created_time;
  const first = world.callSession.first_party;
  await step("maskingSession.listMaskingSession", () => ms.listMaskingSession({ firstParty: first, limit: 5 }));
  await step("maskingSession.listMaskingSession createdTimeEquals", () =>
    ms.listMaskingSession({ firstParty: first, createdTimeEquals: shown })
  );
  await step("maskingSession.listMaskingSession createdTimeLessOrEqual", () =>
    ms.listMaskingSession({ firstParty: first, createdTimeLessOrEqual: shown })
  );
  await step("maskingSession.listMaskingSession createdTimeGreaterThan", () =>
    ms.listMaskingSession({ firstParty: first, createdTimeGreaterThan: shown })
  );
  await step("maskingSession.listMaskingSession expiryTimeEquals", () =>
    ms.listMaskingSession({ firstParty: first, expiryTimeEquals: world.callSession.expiry_time })
  );
  await step("maskingSession.listMaskingSession durationEquals", () =>
    ms.listMaskingSession({ firstParty: first, durationEquals: world.callSession.duration })
  );
  await step("maskingSession.listMaskingSession subAccount", () =>
    ms.listMaskingSession({ subAccount: world.sub.authId })
  );
  await step("maskingSession.deleteMaskingSession", () => ms.deleteMaskingSession(created));
  await step("maskingSession.getMaskingSession after delete", () => ms.getMaskingSession(created));
  await step("maskingSession.deleteMaskingSession again", () => ms.deleteMaskingSession(created));

  // -- the account ----------------------------------------------------------------------
  await step("accounts.get", () => client.accounts.get());
  await step("accounts.update", () => client.accounts.update({ name: "Node Acme", city: "Lyon", address: "1 rue" }));
  await step("accounts.get after update", () => client.accounts.get());

  // -- subaccounts ---------------------------------------------------------------------
  const subs = client.subaccounts;
  await step("subaccounts.create", () => subs.create("node-sub", true));
  const made = value("subaccounts.create").authId;
  await step("subaccounts.get", () => subs.get(made));
  await step("subaccounts.update", () => subs.update(made, "node-renamed", false));
  await step("subaccounts.get after update", () => subs.get(made));
  await step("subaccounts.list", () => subs.list({ limit: 20, offset: 0 }));
  await step("subAccounts.get", () => client.subAccounts.get(world.sub.authId));
  await step("subaccounts.list item update", async () => {
    const listed = await subs.list({ limit: 20 });
    const item = listed.find((s) => s.authId === made);
    return item.update("node-via-item", true);
  });
  await step("subaccounts.get after item update", () => subs.get(made));
  await step("subaccounts.delete", () => subs.delete(made));
  await step("subaccounts.get after delete", () => subs.get(made));
  await step("subaccounts.create for cascade", () => subs.create("node-cascade", true));
  const cascading = value("subaccounts.create for cascade").authId;
  await step("subaccounts.list item delete cascade", async () => {
    await client.numbers.addOwnNumber(world.poolNumbers[3], "trunk", "US", { subaccount: cascading });
    const listed = await subs.list({ limit: 20 });
    return listed.find((s) => s.authId === cascading).delete(true);
  });
  await step("numbers.get after cascade", () => client.numbers.get(world.poolNumbers[3]));

  // -- numbers ---------------------------------------------------------------------------
  const numbers = client.numbers;
  await step("numbers.addOwnNumber", () => numbers.addOwnNumber(`${world.poolNumbers[0]},${world.poolNumbers[1]}`, "trunk", "US-CA"));
  await step("numbers.get", () => numbers.get(world.poolNumbers[0]));
  await step("numbers.list", () => numbers.list({ subAccount: world.sub.authId, limit: 20, offset: 0 }));
  await step("numbers.list numberStartswith", () => numbers.list({ numberStartswith: world.poolNumbers[0].slice(1, 8) }));
  await step("numbers.update", () => numbers.update(world.poolNumbers[0], { alias: "front desk", appId: "app-1" }));
  await step("numbers.get after update", () => numbers.get(world.poolNumbers[0]));
  await step("numbers.update subAccount", () => numbers.update(world.poolNumbers[1], { subAccount: world.sub.authId }));
  await step("numbers.get after subAccount update", () => numbers.get(world.poolNumbers[1]));
  await step("numbers.get item update and unrent", async () => {
    const number = await numbers.get(world.poolNumbers[1]);
    await number.update(world.poolNumbers[1], { alias: "via item" });
    const renamed = await numbers.get(world.poolNumbers[1]);
    await number.unrent(world.poolNumbers[1]);
    return renamed;
  });
  await step("numbers.get after item unrent", () => numbers.get(world.poolNumbers[1]));
  await step("numbers.unrent", () => numbers.unrent(world.poolNumbers[0]));
  await step("numbers.get after unrent", () => numbers.get(world.poolNumbers[0]));
  await step("numbers.search", () => numbers.search("US"));
  await step("numbers.buy", () => numbers.buy(world.poolNumbers[2]));

  // -- calls ------------------------------------------------------------------------------
  const calls = client.calls;
  await step("calls.get", () => calls.get(world.outboundLeg));
  await step("calls.list", () => calls.list({ callDirection: "inbound", fromNumber: first, limit: 20 }));
  await step("calls.list endTimeEquals", async () => {
    const leg = await calls.get(world.inboundLeg);
    return calls.list({ fromNumber: first, endTimeEquals: leg.endTime });
  });
  await step("calls.list end_time__gt", async () => {
    const leg = await calls.get(world.inboundLeg);
    return calls.list({ fromNumber: first, end_time__gt: leg.endTime });
  });
  await step("calls.list parentCallUuid", () => calls.list({ parentCallUuid: world.inboundLeg }));
  await step("calls.listLiveCalls", () => calls.listLiveCalls());
  await step("calls.getLiveCall", () => calls.getLiveCall(world.liveLeg));
  await step("calls.getLiveCall ended", () => calls.getLiveCall(world.inboundLeg));
  await step("calls.listQueuedCalls", () => calls.listQueuedCalls());
  await step("calls.getQueuedCall", () => calls.getQueuedCall(world.liveLeg));
  const leg = world.liveLeg;
  const control = {
    create: () => calls.create("+12202000001", "+14155550100", "https://example.com/answer"),
    hangup: () => calls.hangup(leg),
    transfer: () => calls.transfer(leg, { legs: "aleg", alegUrl: "https://example.com/a" }),
    record: () => calls.record(leg),
    stopRecording: () => calls.stopRecording(leg),
    playMusic: () => calls.playMusic(leg, "https://example.com/a.mp3"),
    stopPlayingMusic: () => calls.stopPlayingMusic(leg),
    speakText: () => calls.speakText(leg, "hello"),
    stopSpeakingText: () => calls.stopSpeakingText(leg),
    sendDigits: () => calls.sendDigits(leg, "123"),
    cancel: () => calls.cancel(leg),
    stream: () => calls.stream(leg, "wss://example.com/s"),
    stopStream: () => calls.stopStream(leg, "s"),
    stopAllStream: () => calls.stopAllStream(leg),
    getStream: () => calls.getStream(leg, "s"),
    getAllStream: () => calls.getAllStream(leg),
  };
  for (const [name, fn] of Object.entries(control)) {
    await step(`calls.${name}`, fn);
  }

  // -- recordings -------------------------------------------------------------------------
  const recordings = client.recordings;
  await step("recordings.get", () => recordings.get(world.recordingId));
  await step("recordings.list", () => recordings.list({ callUuid: world.inboundLeg, limit: 20, offset: 0 }));
  await step("recordings.list add_time__lte", async () => {
    const rec = await recordings.get(world.recordingId);
    return recordings.list({ add_time__lte: rec.addTime });
  });
  await step("recordings.list add_time__gt", async () => {
    const rec = await recordings.get(world.recordingId);
    return recordings.list({ add_time__gt: rec.addTime });
  });
  await step("recordings.delete", () => recordings.delete(world.spareRecordings[0]));
  await step("recordings.get after delete", () => recordings.get(world.spareRecordings[0]));

  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err));
  process.exit(1);
});
