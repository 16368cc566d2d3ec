"""Debian 12's unmodified cloud-init reads a server's context through a pty (cloud-init.test.ts).

Usage: cloud-init.py PTY WORKDIR. Only two things are pointed elsewhere, at run time: the serial
port cepko opens (/dev/ttyS1 on a guest, the pty linked to sigmalite's context socket here) and
the DMI product name the datasource checks (a guest's SMBIOS says CloudSigma; this machine's
does not). Prints one JSON object: what the datasource and cepko read.
"""
import json
import sys

from cloudinit import helpers
from cloudinit.sources import DataSourceCloudSigma
from cloudinit.sources.helpers import cloudsigma

port, workdir = sys.argv[1], sys.argv[2]
cloudsigma.SERIAL_PORT = port
DataSourceCloudSigma.dmi.read_dmi_data = lambda key: "CloudSigma" if key == "system-product-name" else None

paths = helpers.Paths({"cloud_dir": workdir + "/cloud", "run_dir": workdir + "/run"})
source = DataSourceCloudSigma.DataSourceCloudSigma({}, None, paths)
found = source.get_data()
cepko = cloudsigma.Cepko()
print(json.dumps({
    "found": found,
    "instance_id": source.get_instance_id() if found else None,
    "hostname": source.get_hostname().hostname if found else None,
    "public_keys": source.get_public_ssh_keys() if found else None,
    "userdata_raw": source.userdata_raw.decode() if isinstance(source.userdata_raw, bytes) else source.userdata_raw,
    "metadata_name": source.metadata.get("name") if found else None,
    "cepko_name": cepko.get("name").result,
    "cepko_meta": cepko.meta().result,
    "cepko_global": cepko.global_context().result,
}))
