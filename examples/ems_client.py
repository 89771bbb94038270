"""A minimal external EMS for the bench: peak shaving over SunSpec Modbus TCP. Start from here.

It does what an EMS vendor's controller does against real hardware, with nothing from this
project imported: find the SunSpec models on each unit (pysunspec2's scan), start the battery
PCS, then once a period read the utility meter and discharge just enough to keep the site's
import under a limit, with a reversion timer and a controller heartbeat so the bench falls
back safely if this script dies.

    .venv/bin/hil serve lab_rack                 # the bench, on modbus://127.0.0.1:1502
    .venv/bin/python examples/ems_client.py --limit-kw 8 --seconds 60

Needs ``pysunspec2`` (``pip install pysunspec2==1.3.7``; the bench's dev install has it). The
unit ids are the lab_rack's (meter 1, PCS 10): see ``hil serve``'s listing or
``docs/reference/points-lab_rack.md`` for another site. Signs (docs/integration.md): the
meter's ``203.W`` is + importing, the PCS's ``701.W`` and ``704.WSet`` are + discharging.
"""

from __future__ import annotations

import argparse
import time

from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

RUNNING, THROTTLED, STANDBY = 3, 4, 7  # 701.InvSt states that take a setpoint


def connect(host: str, port: int, unit: int) -> SunSpecModbusClientDeviceTCP:
    dev = SunSpecModbusClientDeviceTCP(slave_id=unit, ipaddr=host, ipport=port, timeout=5)
    dev.scan()  # walks the model chain from 40000 ('SunS', then ID/L pairs)
    return dev


def write(model: object, **points: float) -> None:
    """Set ``points`` of a SunSpec model in engineering units and write each."""
    for name, value in points.items():
        p = getattr(model, name)
        p.cvalue = value  # pysunspec2 applies the point's scale factor
        p.write()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1502)
    ap.add_argument("--meter-unit", type=int, default=1)
    ap.add_argument("--pcs-unit", type=int, default=10)
    ap.add_argument("--limit-kw", type=float, default=8.0, help="import limit at the meter")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to run (wall clock)")
    ap.add_argument("--period", type=float, default=1.0, help="control period (wall clock)")
    args = ap.parse_args()

    meter, pcs = connect(args.host, args.port, args.meter_unit), connect(args.host, args.port, args.pcs_unit)
    m203 = meter.models[203][0]
    m701, m704, m715 = pcs.models[701][0], pcs.models[704][0], pcs.models[715][0]
    m702 = pcs.models[702][0]
    m702.read()
    w_max = float(m702.WMaxRtg.cvalue)  # the PCS's rating, W
    write(m715, OpCtl=1)  # start the PCS (it reads STARTING for its start-up sequence)
    # watts mode; if this script goes quiet for 10 s the PCS drops the setpoint to 0
    write(m704, WSetMod=1, WSetRvrtTms=10, WSetEnaRvrt=0, WSetRvrt=0)
    limit_w = args.limit_kw * 1000.0
    setpoint = 0.0
    hb = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        m203.read()
        m701.read()
        grid_w = float(m203.W.cvalue)
        pcs_w = float(m701.W.cvalue or 0.0)
        state = int(m701.InvSt.value)
        if state in (RUNNING, THROTTLED, STANDBY):
            # discharge what the site imports above the limit, on top of what the PCS gives now
            setpoint = min(max(pcs_w + grid_w - limit_w, 0.0), w_max)
            write(m704, WSet=setpoint, WSetEna=1)
        hb = (hb + 1) % 65536
        write(m715, ControllerHb=hb)  # the bench's watchdog sees a live controller
        kw = (grid_w / 1000, pcs_w / 1000, setpoint / 1000)
        print(
            "import {:8.2f} kW  pcs {:8.2f} kW  setpoint {:8.2f} kW  InvSt {}".format(*kw, state), flush=True
        )
        time.sleep(args.period)
    write(m704, WSetEna=0)  # hand back: no setpoint
    meter.close()
    pcs.close()


if __name__ == "__main__":
    main()
