// An independent OPC UA client (node-opcua) for tests/integration/test_opcua.py.
//
// usage: node opcua_check.js <endpoint url> '<options as JSON>'
//   options: {
//     "namespace": "urn:aidc-hil:lab_rack",     // looked up in NamespaceArray
//     "root": "lab_rack",                        // browse Objects/<root> recursively
//     "subscribe": ["lab_rack.BESS.PCS01.DERMeasureAC.W", ...],  // string NodeIds in that namespace
//     "interval_ms": 100, "seconds": 3,          // publishing interval, how long to collect
//     "writes": [{"node": "...", "dataType": "Double", "value": 80}, ...]
//   }
//
// Prints one JSON document, on the last line of stdout (node-opcua logs to stdout too):
//   { namespaceIndex, nodes: [{nodeId, path, nodeClass, reference, typeDefinition, dataType,
//     accessLevel, userAccessLevel, status, value, units}], subscribed: {nodeId: {count, first,
//     last, sourceTimestamps}}, writes: [{node, status}], timings: {...} }
"use strict";

const {
  OPCUAClient,
  ClientSubscription,
  ClientMonitoredItem,
  AttributeIds,
  BrowseDirection,
  DataType,
  TimestampsToReturn,
  MessageSecurityMode,
  SecurityPolicy,
  NodeClass,
} = require("node-opcua-client");

const HAS_PROPERTY = "ns=0;i=46";

function plain(value) {
  // node-opcua values to JSON: Int64/UInt64 come as [high, low] words, Buffers as hex
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return Number(value);
  if (Buffer.isBuffer(value)) return value.toString("hex");
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "object") {
    if (typeof value.toJSON === "function") return value.toJSON();
    if (value.text !== undefined) return value.text;
    return String(value);
  }
  return value;
}

function chunks(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

async function browseAll(session, rootId) {
  // breadth first over hierarchical references (Organizes, HasComponent, HasProperty)
  const found = [];
  let level = [{ nodeId: rootId, path: "" }];
  while (level.length) {
    const next = [];
    for (const batch of chunks(level, 200)) {
      const results = await session.browse(
        batch.map((n) => ({
          nodeId: n.nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: "HierarchicalReferences",
          includeSubtypes: true,
          nodeClassMask: 0,
          resultMask: 63,
        })),
      );
      results.forEach((res, k) => {
        if (!res.statusCode.isGood()) throw new Error(`browse ${batch[k].nodeId}: ${res.statusCode.name}`);
        for (const ref of res.references || []) {
          const node = {
            nodeId: ref.nodeId.toString(),
            parent: batch[k].nodeId,
            path: batch[k].path ? `${batch[k].path}/${ref.browseName.name}` : ref.browseName.name,
            browseName: ref.browseName.name,
            nodeClass: NodeClass[ref.nodeClass],
            reference: ref.referenceTypeId.toString(),
            typeDefinition: ref.typeDefinition ? ref.typeDefinition.toString() : null,
          };
          found.push(node);
          // objects hold points; variables hold their properties (EngineeringUnits, EURange)
          if (ref.nodeClass === NodeClass.Object || (ref.nodeClass === NodeClass.Variable && node.reference !== HAS_PROPERTY)) {
            next.push({ nodeId: node.nodeId, path: node.path });
          }
        }
      });
    }
    level = next;
  }
  return found;
}

async function readAttributes(session, nodes, attributeId) {
  const out = [];
  for (const batch of chunks(nodes, 500)) {
    const dvs = await session.read(batch.map((n) => ({ nodeId: n.nodeId, attributeId })));
    out.push(...dvs);
  }
  return out;
}

async function main() {
  const url = process.argv[2];
  const opts = JSON.parse(process.argv[3] || "{}");
  const interval = opts.interval_ms || 100;
  const seconds = opts.seconds === undefined ? 3 : opts.seconds;
  const timings = {};
  let t = Date.now();

  const client = OPCUAClient.create({
    applicationName: "aidc-hil-opcua-check",
    endpointMustExist: false,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
    requestedSessionTimeout: 120000,
  });
  await client.connect(url);
  const session = await client.createSession();
  timings.connect_s = (Date.now() - t) / 1000;

  const nsArray = (await session.read({ nodeId: "ns=0;i=2255", attributeId: AttributeIds.Value })).value.value;
  const ns = nsArray.indexOf(opts.namespace);
  if (ns < 0) throw new Error(`namespace ${opts.namespace} not in ${JSON.stringify(nsArray)}`);
  const nid = (s) => `ns=${ns};s=${s}`;

  t = Date.now();
  const nodes = await browseAll(session, nid(opts.root));
  timings.browse_s = (Date.now() - t) / 1000;

  t = Date.now();
  const variables = nodes.filter((n) => n.nodeClass === "Variable");
  const values = await readAttributes(session, variables, AttributeIds.Value);
  const dataTypes = await readAttributes(session, variables, AttributeIds.DataType);
  const access = await readAttributes(session, variables, AttributeIds.AccessLevel);
  const userAccess = await readAttributes(session, variables, AttributeIds.UserAccessLevel);
  const byId = new Map();
  variables.forEach((n, k) => {
    const dv = values[k];
    n.status = dv.statusCode.name;
    n.value = dv.value ? plain(dv.value.value) : null;
    n.sourceTimestamp = dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null;
    n.dataType = dataTypes[k].value && dataTypes[k].value.value ? dataTypes[k].value.value.toString() : null;
    n.accessLevel = access[k].value ? access[k].value.value : null;
    n.userAccessLevel = userAccess[k].value ? userAccess[k].value.value : null;
    byId.set(n.nodeId, n);
  });
  // EngineeringUnits: an EUInformation structure (decoded by node-opcua from namespace 0)
  for (const n of variables) {
    if (n.reference === HAS_PROPERTY && n.browseName === "EngineeringUnits") {
      const owner = byId.get(n.parent);
      const eu = n.value;
      if (owner && eu) {
        owner.units = {
          namespaceUri: eu.namespaceUri,
          unitId: eu.unitId,
          displayName: eu.displayName && eu.displayName.text !== undefined ? eu.displayName.text : eu.displayName,
        };
      }
    }
    if (n.reference === HAS_PROPERTY && n.browseName === "EURange") {
      const owner = byId.get(n.parent);
      if (owner && n.value) owner.euRange = [n.value.low, n.value.high];
    }
  }
  for (const n of variables) {
    if (n.reference === HAS_PROPERTY) delete n.value; // keep the document small
  }
  timings.read_s = (Date.now() - t) / 1000;

  // subscriptions at the documented rate
  const subscribed = {};
  if ((opts.subscribe || []).length && seconds > 0) {
    const sub = ClientSubscription.create(session, {
      requestedPublishingInterval: interval,
      requestedLifetimeCount: 600,
      requestedMaxKeepAliveCount: 20,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    await new Promise((resolve, reject) => {
      sub.on("started", resolve);
      sub.on("error", reject);
    });
    for (const s of opts.subscribe) {
      const rec = { count: 0, first: null, last: null, sourceTimestamps: [], statuses: {} };
      subscribed[s] = rec;
      const item = ClientMonitoredItem.create(
        sub,
        { nodeId: nid(s), attributeId: AttributeIds.Value },
        { samplingInterval: interval, discardOldest: true, queueSize: 10 },
        TimestampsToReturn.Both,
      );
      item.on("changed", (dv) => {
        rec.count += 1;
        const v = dv.value ? plain(dv.value.value) : null;
        if (rec.first === null) rec.first = v;
        rec.last = v;
        rec.statuses[dv.statusCode.name] = (rec.statuses[dv.statusCode.name] || 0) + 1;
        if (dv.sourceTimestamp) rec.sourceTimestamps.push(dv.sourceTimestamp.toISOString());
      });
    }
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    timings.subscribed_s = seconds;
    timings.revised_publishing_interval_ms = sub.publishingInterval;
    await sub.terminate();
  }

  // writes: a setpoint (expect Good) and read-only points (expect Bad...)
  const writes = [];
  for (const w of opts.writes || []) {
    const status = await session.write({
      nodeId: nid(w.node),
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType[w.dataType], value: w.value } },
    });
    writes.push({ node: w.node, status: status.name });
  }

  await session.close();
  await client.disconnect();
  const doc = { namespaceIndex: ns, nodes, subscribed, writes, timings };
  return JSON.stringify(doc);
}

main().then(
  // a pipe is written asynchronously: exit only once the document is flushed
  (text) => process.stdout.write("\n" + text + "\n", () => process.exit(0)),
  (err) => {
    process.stderr.write(`opcua_check failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  },
);
