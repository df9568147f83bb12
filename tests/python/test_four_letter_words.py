"""Four-letter words on the client port (both servers run with 4lw.commands.whitelist=*)."""

import re


def test_ruok(target):
    assert target.four_letter("ruok") == "imok"


def _node_count(srvr):
    match = re.search(r"^Node count: (\d+)$", srvr, re.MULTILINE)
    assert match, srvr
    return int(match.group(1))


def test_srvr_reports_mode_zxid_and_node_count(target, connect, base):
    srvr = target.four_letter("srvr")
    assert srvr.startswith("Zookeeper version: "), srvr
    assert "\nMode: standalone\n" in srvr, srvr
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", srvr, re.MULTILINE), srvr
    assert re.search(r"^Latency min/avg/max: \d+/[\d.]+/\d+$", srvr, re.MULTILINE), srvr
    before = _node_count(srvr)
    client = connect()
    client.create(f"{base}/child", makepath=True)
    assert _node_count(target.four_letter("srvr")) == before + 2


def test_stat_lists_clients(target, connect):
    connect()
    stat = target.four_letter("stat")
    assert stat.startswith("Zookeeper version: "), stat
    assert "Clients:\n" in stat, stat
    assert re.search(r"^ /127\.0\.0\.1:\d+\[", stat, re.MULTILINE), stat
    assert "\nMode: standalone\n" in stat, stat


def test_mntr_key_values(target, connect):
    connect()
    lines = target.four_letter("mntr").strip().splitlines()
    metrics = dict(line.split("\t", 1) for line in lines)
    assert metrics["zk_server_state"] == "standalone"
    assert metrics["zk_version"]
    assert int(metrics["zk_znode_count"]) >= 1
    assert int(metrics["zk_num_alive_connections"]) >= 1
    assert int(metrics["zk_outstanding_requests"]) >= 0
    for key in [
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
    ]:
        assert key in metrics, key


def test_unknown_word_gets_no_answer_and_server_keeps_serving(target):
    # Four unknown bytes are read as a frame length far beyond jute.maxbuffer: the server
    # closes the connection without a reply.
    assert target.four_letter("abcd") == ""
    assert target.four_letter("ruok") == "imok"
