"""
Apache libcloud's CloudSigma 2.0 driver against sigmalite: a node made from one of the account's
own drives is started, stopped and destroyed with libcloud's own calls.

Run by test/clients/libcloud.test.ts with Debian's python3-libcloud (/usr/bin/python3):

    SIGMALITE_URL=https://127.0.0.1:PORT SIGMALITE_EMAIL=... SIGMALITE_PASSWORD=... \
    SIGMALITE_CA=/path/to/ca.pem /usr/bin/python3 test/clients/libcloud.py

The driver speaks HTTPS only; it is pointed at sigmalite with its `host`/`port` arguments and
trusts sigmalite's certificate through libcloud.security.CA_CERTS_PATH (the test CA; verification
stays on). Every step prints one JSON line {"step": ..., ...}; the last line is {"step": "done"}.
Any failure raises (exit status 1, traceback on stderr).
"""

import json
import os
import sys
import time
from urllib.parse import urlparse

# This file is named libcloud.py: its own directory must not shadow the libcloud package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import libcloud  # noqa: E402
import libcloud.security  # noqa: E402

libcloud.security.VERIFY_SSL_CERT = True
libcloud.security.CA_CERTS_PATH = os.environ["SIGMALITE_CA"]

from libcloud.compute.drivers.cloudsigma import (  # noqa: E402
    CloudSigmaError,
    CloudSigmaNodeDriver,
)
from libcloud.compute.types import NodeState  # noqa: E402

TIMEOUT = 60
POLL = 0.1
GiB = 1024**3


def report(step, **fields):
    print(json.dumps({"step": step, **fields}, default=str), flush=True)


def wait(what, probe):
    """Calls probe() until it returns something truthy; fails after TIMEOUT seconds."""
    deadline = time.time() + TIMEOUT
    while True:
        value = probe()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(POLL)


def node_named(driver, uuid):
    return next((n for n in driver.list_nodes() if n.id == uuid), None)


def wait_node(driver, uuid, state):
    return wait(
        "node %s to be %s" % (uuid, state),
        lambda: (lambda n: n if n and n.state == state else None)(node_named(driver, uuid)),
    )


def wait_drive(driver, uuid, status):
    return wait(
        "drive %s to be %s" % (uuid, status),
        lambda: (lambda d: d if d.status == status else None)(driver.ex_get_drive(uuid)),
    )


def expect_error(call):
    """Runs call(), which must fail with a CloudSigma error; returns its fields."""
    try:
        call()
    except CloudSigmaError as e:
        return {"http_code": e.http_code, "error_type": e.error_type, "message": e.value}
    raise AssertionError("expected a CloudSigma error")


def main():
    url = urlparse(os.environ["SIGMALITE_URL"])
    driver = CloudSigmaNodeDriver(
        os.environ["SIGMALITE_EMAIL"],
        os.environ["SIGMALITE_PASSWORD"],
        host=url.hostname,
        port=url.port,
        secure=True,
        api_version="2.0",
    )
    # create_node polls drives every 5 s by default; the server runs fast transitions.
    driver.DRIVE_TRANSITION_SLEEP_INTERVAL = POLL
    report("driver", libcloud=libcloud.__version__, name=driver.name)

    # A drive of the account's own, made through libcloud and waited for.
    base = driver.ex_create_drive(name="libcloud-base", size=1)
    report("drive created", uuid=base.id, status=base.status, size=base.size)
    base = wait_drive(driver, base.id, "unmounted")
    report("drive ready", uuid=base.id, status=base.status)
    assert base.id in [v.id for v in driver.list_volumes()]

    # The node: libcloud clones the drive, grows the copy to the size's disk, creates the server
    # with the copy as its boot disk and a DHCP NIC, and starts it.
    size = next(s for s in driver.list_sizes() if s.id == "small-1")
    node = driver.create_node(
        name="libcloud-node",
        size=size,
        image=base,
        ex_metadata={"made_by": "libcloud"},
        ex_vnc_password="libcloud1",
    )
    boot = node.extra["drives"][0]["drive"]["uuid"]
    report(
        "node created",
        uuid=node.id,
        state=node.state,
        boot_drive=boot,
        cpus=node.extra["cpus"],
        memory=node.extra["memory"],
        meta=node.extra["meta"],
    )
    node = wait_node(driver, node.id, NodeState.RUNNING)
    disk = driver.ex_get_drive(boot)
    report(
        "node running",
        uuid=node.id,
        state=node.state,
        public_ips=node.public_ips,
        private_ips=node.private_ips,
        active_since=node.extra["runtime"]["active_since"],
        disk_size=disk.size,
        disk_status=disk.status,
        disk_mounted_on=[m["uuid"] for m in disk.extra["mounted_on"]],
    )
    base = driver.ex_get_drive(base.id)
    report("source drive", uuid=base.id, status=base.status)

    report("start again", **expect_error(lambda: driver.start_node(node)))
    groups = driver.ex_list_servers_availability_groups()
    report("availability groups", groups=groups)
    vnc = driver.ex_open_vnc_tunnel(node)
    report("vnc", url=vnc, closed=driver.ex_close_vnc_tunnel(node))

    # reboot_node is stop then start, retried while the stop is still under way.
    report("reboot", ok=driver.reboot_node(node))
    node = wait_node(driver, node.id, NodeState.RUNNING)
    report("running again", uuid=node.id, state=node.state)

    report("stop", ok=driver.stop_node(node))
    node = wait_node(driver, node.id, NodeState.STOPPED)
    report(
        "node stopped",
        uuid=node.id,
        state=node.state,
        ips=node.public_ips + node.private_ips,
    )
    report("stop again", **expect_error(lambda: driver.stop_node(node)))

    # A clone of the stopped node (its disk is copied), destroyed with its drives.
    clone = driver.ex_clone_node(node, name="libcloud-clone")
    report("clone", uuid=clone.id, state=clone.state)
    clone = wait_node(driver, clone.id, NodeState.STOPPED)
    clone_disk = clone.extra["drives"][0]["drive"]["uuid"]
    report("clone stopped", uuid=clone.id, disk=clone_disk)
    report("destroy clone", ok=driver.destroy_node(clone, ex_delete_drives=True))

    # The node goes; its disk stays (libcloud's default) until destroyed too, then the base.
    report("destroy", ok=driver.destroy_node(node))
    report("nodes left", uuids=[n.id for n in driver.list_nodes()])
    disk = driver.ex_get_drive(boot)
    report("disk after destroy", status=disk.status, mounted_on=disk.extra["mounted_on"])
    report("destroy disk", ok=driver.destroy_volume(disk))
    report("destroy base", ok=driver.destroy_volume(base))
    report("volumes left", uuids=[v.id for v in driver.list_volumes()])
    report("done")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)
