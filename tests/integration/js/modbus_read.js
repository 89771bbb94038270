// Read (and optionally first write) holding registers with modbus-serial, an independent
// Modbus TCP client, and print what it decoded as one JSON line.
//
//   node modbus_read.js <port> <unit> <address> <count> [v1,v2,...]
//
// <address> is the 0-based PDU address (40000 = 'SunS'). With a value list the registers are
// first written at <address> (FC16; FC06 for one value). Output:
//   {"data": [...], "u32": [...], "i32": [...], "ascii": "..."}   u32/i32: big-endian pairs
//   {"error": "...", "code": 2}                                    a Modbus exception (code) or
//                                                                   another failure (code null)
"use strict";
const ModbusRTU = require("modbus-serial");

async function main() {
  const [port, unit, address, count, values] = process.argv.slice(2);
  if (count === undefined) {
    throw new Error("usage: node modbus_read.js <port> <unit> <address> <count> [v1,v2,...]");
  }
  const client = new ModbusRTU();
  client.setTimeout(5000);
  await client.connectTCP("127.0.0.1", { port: Number(port) });
  client.setID(Number(unit));
  try {
    if (values !== undefined && values !== "") {
      const regs = values.split(",").map(Number);
      if (regs.length === 1) {
        await client.writeRegister(Number(address), regs[0]);
      } else {
        await client.writeRegisters(Number(address), regs);
      }
    }
    const res = await client.readHoldingRegisters(Number(address), Number(count));
    const buf = res.buffer;
    const u32 = [];
    const i32 = [];
    for (let k = 0; k + 4 <= buf.length; k += 4) {
      u32.push(buf.readUInt32BE(k));
      i32.push(buf.readInt32BE(k));
    }
    const ascii = buf.toString("latin1").replace(/\0+$/, "");
    console.log(JSON.stringify({ data: res.data, u32, i32, ascii }));
  } finally {
    await new Promise((resolve) => client.close(resolve));
  }
}

main().catch((err) => {
  const code = err && typeof err.modbusCode === "number" ? err.modbusCode : null;
  console.log(JSON.stringify({ error: String(err && err.message ? err.message : err), code }));
  process.exitCode = code === null ? 2 : 1;
});
