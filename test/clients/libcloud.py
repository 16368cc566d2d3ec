"""
Apache libcloud's CloudSigma 2.0 driver against sigmalite, with libcloud's own calls. Two
workflows:

- basic (the default): a node made from one of the account's own drives is started, stopped,
  cloned and destroyed;
- extended: the rest of the driver's public calls: sizes, images, library drives, capabilities,
  balance, pricing, usage, subscriptions, key pairs (generated and imported), drives (create,
  resize, clone, attach, detach), tags (list_nodes(ex_tag=...)), firewall policies, a node from a
  library image with a key, waited for with wait_until_running(ssh_interface="public_ips"),
  edited, and everything destroyed.

Run by test/clients/libcloud.test.ts with Debian's python3-libcloud (/usr/bin/python3):

    SIGMALITE_URL=https://127.0.0.1:PORT SIGMALITE_EMAIL=... SIGMALITE_PASSWORD=... \
    SIGMALITE_CA=/path/to/ca.pem /usr/bin/python3 test/clients/libcloud.py [basic|extended]

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


def connect():
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
    return driver


def basic(driver):

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


def extended(driver):
    sizes = driver.list_sizes()
    size = next(s for s in sizes if s.id == "small-1")
    report("sizes", count=len(sizes), small=[size.cpu, size.ram, size.disk])
    images = driver.list_images()
    report("images", names=[i.name for i in images], types=[i.extra["image_type"] for i in images])
    library = driver.ex_list_library_drives()
    report("library drives", media=sorted(d.media for d in library))
    capabilities = driver.ex_list_capabilities()
    report("capabilities", keys=sorted(capabilities))
    report("balance", **driver.ex_get_balance())
    pricing = driver.ex_get_pricing()
    report("pricing", resources=sorted({p["resource"] for p in pricing["objects"]}))
    report("usage", resources=sorted(driver.ex_get_usage()["usage"]))

    # Subscriptions: an IP for a month, its auto-renewal toggled.
    subscription = driver.ex_create_subscription(1, "1 month", "ip")
    report(
        "subscription",
        resource=subscription.resource,
        period=subscription.period,
        status=subscription.status,
        auto_renew=subscription.auto_renew,
        subscribed_object=subscription.subscribed_object,
    )
    listed = driver.ex_list_subscriptions(resources=["ip"])
    report("subscriptions", ids=[s.id for s in listed], wanted=subscription.id)
    report("auto renew", ok=driver.ex_toggle_subscription_auto_renew(subscription))
    again = next(s for s in driver.ex_list_subscriptions() if s.id == subscription.id)
    report("auto renew now", auto_renew=again.auto_renew)

    # Key pairs: one generated from a name (the older API), one imported from its public half.
    generated = driver.create_key_pair("lc-generated")
    report(
        "key pair generated",
        name=generated.name,
        public_key=generated.public_key.split(" ")[0],
        private_key=generated.private_key.splitlines()[0],
        fingerprint=generated.fingerprint,
    )
    imported = driver.import_key_pair_from_string("lc-imported", generated.public_key)
    report(
        "key pair imported",
        name=imported.name,
        same_key=imported.public_key == generated.public_key,
        private_key=imported.private_key,
    )
    report("key pairs", names=sorted(k.name for k in driver.list_key_pairs()))
    got = driver.get_key_pair(generated.extra["uuid"])
    report("key pair", name=got.name, fingerprint=got.fingerprint)

    # Drives: made, grown, copied.
    data = driver.create_volume(name="lc-data", size=1)
    data = wait_drive(driver, data.id, "unmounted")
    report("drive", name=data.name, size=data.size, status=data.status)
    grown = driver.ex_resize_drive(data, 2)
    report("drive resizing", status=grown.status)
    data = wait_drive(driver, data.id, "unmounted")
    report("drive resized", size=data.size)
    copy = driver.ex_clone_drive(data, name="lc-data-copy")
    copy = wait_drive(driver, copy.id, "unmounted")
    report("drive cloned", name=copy.name, size=copy.size, source_status=driver.ex_get_drive(data.id).status)
    report("drives availability groups", groups=driver.ex_list_drives_availability_groups())
    report("volumes", names=sorted(v.name for v in driver.list_volumes()))

    # A node from a library image, with the generated key, waited for until it has a public IP.
    image = images[0]
    node = driver.create_node(
        name="lc-web",
        size=size,
        image=image,
        ex_metadata={"role": "web"},
        public_keys=[generated.extra["uuid"]],
    )
    report("node created", state=node.state, image=image.name)
    [(node, addresses)] = driver.wait_until_running(
        [node], wait_period=POLL, timeout=TIMEOUT, ssh_interface="public_ips"
    )
    report(
        "node running",
        state=node.state,
        addresses=addresses,
        public_ips=node.public_ips,
        private_ips=node.private_ips,
    )
    fetched = driver.ex_get_node(node.id)
    report(
        "node",
        name=fetched.name,
        size=[fetched.size.cpu, fetched.size.ram, fetched.size.disk],
        pubkeys=[k["uuid"] for k in driver.ex_get_node(node.id, return_json=True)["pubkeys"]],
    )
    report("nodes", names=[n.name for n in driver.list_nodes()])

    # Tags: nodes listed by tag. libcloud's ex_tag_resources adds nothing (it loops over the
    # tag's own resources, not the ones given): the node is tagged from its side instead.
    tag = driver.ex_create_tag("lc-tag")
    report("tag created", name=tag.name, resources=tag.resources)
    report("tag resource", resources=driver.ex_tag_resource(node, tag).resources)
    tagged = driver.ex_edit_node(
        node, {"cpu": 2000, "mem": 512 * 1024 * 1024, "tags": [tag.id]}
    )
    report("tagged", tags=[t["uuid"] for t in driver.ex_get_node(tagged.id, return_json=True)["tags"]])
    report("nodes by tag", names=[n.name for n in driver.list_nodes(ex_tag=tag)])
    report("tag", name=driver.ex_get_tag(tag.id).name)
    report("tags", names=[t.name for t in driver.ex_list_tags()])

    # Firewall policies, and VNC, while it runs.
    policy = driver.ex_create_firewall_policy(
        "lc-fw",
        rules=[
            {"action": "accept", "direction": "in", "ip_proto": "tcp", "dst_port": "22", "comment": "ssh"}
        ],
    )
    report("firewall policy", name=policy.name, rules=[(r.action, r.direction, r.dst_port) for r in policy.rules])
    report("firewall policies", names=[p.name for p in driver.ex_list_firewall_policies()])
    vnc = driver.ex_open_vnc_tunnel(node)
    report("vnc", url=vnc, closed=driver.ex_close_vnc_tunnel(node))
    report("servers availability groups", groups=driver.ex_list_servers_availability_groups())

    # Stopped: edited, its NIC given the policy, the copy attached and detached, started again.
    report("stop", ok=driver.ex_stop_node(node))
    node = wait_node(driver, node.id, NodeState.STOPPED)
    # ex_edit_node sends the node's `cpus` and `memory` as they are in extra (cores, MB) unless
    # params give them: CloudSigma wants MHz and bytes.
    edited = driver.ex_edit_node(
        node,
        {"name": "lc-web-2", "cpu": 2000, "mem": 1024 * 1024 * 1024, "meta": {"role": "db"}},
    )
    report("node edited", name=edited.name, memory=edited.extra["memory"], meta=edited.extra["meta"])
    # ex_attach_firewall_policy edits the node the same way, with no params to fix them: give
    # the node the values CloudSigma wants.
    edited.extra["cpus"] = 2000
    edited.extra["memory"] = 1024 * 1024 * 1024
    node = driver.ex_attach_firewall_policy(policy, edited)
    report("firewall policy attached", policy=node.extra["nics"][0]["firewall_policy"]["uuid"] == policy.id)
    report("attach", ok=driver.attach_volume(node, copy))
    attached = driver.ex_get_drive(copy.id)
    report("attached", mounted_on=[m["uuid"] for m in attached.extra["mounted_on"]] == [node.id])
    report("detach", ok=driver.detach_volume(node, copy))
    report("detached", mounted_on=driver.ex_get_drive(copy.id).extra["mounted_on"])
    report("start", ok=driver.ex_start_node(node))
    node = wait_node(driver, node.id, NodeState.RUNNING)
    report("running again", state=node.state, public=len(node.public_ips))

    # Everything goes.
    report("stop again", ok=driver.stop_node(node))
    wait_node(driver, node.id, NodeState.STOPPED)
    report("destroy node", ok=driver.destroy_node(node, ex_delete_drives=True))
    report("delete firewall policy", ok=driver.ex_delete_firewall_policy(policy))
    report("delete tag", ok=driver.ex_delete_tag(tag))
    report(
        "delete key pairs",
        ok=[driver.delete_key_pair(generated), driver.delete_key_pair(imported)],
    )
    report("destroy volumes", ok=[driver.destroy_volume(copy), driver.destroy_volume(data)])
    report(
        "left",
        nodes=[n.id for n in driver.list_nodes()],
        volumes=[v.id for v in driver.list_volumes()],
        key_pairs=[k.name for k in driver.list_key_pairs()],
        tags=[t.id for t in driver.ex_list_tags()],
    )
    report("done")


def main():
    workflow = sys.argv[1] if len(sys.argv) > 1 else "basic"
    {"basic": basic, "extended": extended}[workflow](connect())


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)
