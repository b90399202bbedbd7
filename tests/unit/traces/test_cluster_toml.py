"""The cluster model (`Node`, `Cluster`, `Cluster.uniform`) and cluster TOML files: the happy
path and every one-line error, asserted word for word."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces.cluster import Cluster, GpuInfo, Node, load_cluster_toml
from traces.errors import TraceError, UserError

NODE_KEYS = "count, gpu_mem_gib, gpu_type, id, num_gpus, rack"
GROUP = 'gpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = 80\n'


# ----- Node / Cluster ------------------------------------------------------------------------


def test_node_gpu_ids() -> None:
    assert Node("n0", "V100", 3, 32.0).gpu_ids == ("n0:0", "n0:1", "n0:2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "V100", 1, 32.0), "node_id must be non-empty without ':', ';' or spaces, got ''"),
        (("a:b", "V100", 1, 32.0), "node_id must be non-empty without ':', ';' or spaces, got 'a:b'"),
        (("n0", "", 1, 32.0), "node n0: gpu_type must be non-empty"),
        (("n0", "V100", 0, 32.0), "node n0: num_gpus must be an integer >= 1, got 0"),
        (("n0", "V100", 2.5, 32.0), "node n0: num_gpus must be an integer >= 1, got 2.5"),
        (("n0", "V100", float("inf"), 32.0), "node n0: num_gpus must be an integer >= 1, got inf"),
        (("n0", "V100", 1, 0.0), "node n0: gpu_mem_gib must be > 0, got 0.0"),
        (("n0", "V100", 1, -4.0), "node n0: gpu_mem_gib must be > 0, got -4.0"),
        (("n0", "V100", 1, float("nan")), "node n0: gpu_mem_gib must be > 0, got nan"),
        (("n0", "V100", 1, float("inf")), "node n0: gpu_mem_gib must be > 0, got inf"),
    ],
)
def test_node_validation(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Node(*args)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_cluster_validation() -> None:
    with pytest.raises(ValueError) as info:
        Cluster(())
    assert str(info.value) == "a cluster needs at least one node"
    with pytest.raises(ValueError) as info:
        Cluster((Node("a", "V100", 1, 32.0), Node("b", "V100", 1, 32.0), Node("a", "A100", 2, 80.0)))
    assert str(info.value) == "duplicate node id 'a'"


def test_cluster_views() -> None:
    c = Cluster((Node("v0", "V100", 2, 32.0, "r0"), Node("a0", "A100", 3, 80.0), Node("v1", "V100", 1, 16.0, "r1")))
    assert c.num_gpus == 6
    assert c.max_gpus_per_node == 3
    assert c.gpu_types == ("V100", "A100")
    assert c.gpus() == (
        GpuInfo("v0:0", "v0", "V100", 32.0, "r0"),
        GpuInfo("v0:1", "v0", "V100", 32.0, "r0"),
        GpuInfo("a0:0", "a0", "A100", 80.0, None),
        GpuInfo("a0:1", "a0", "A100", 80.0, None),
        GpuInfo("a0:2", "a0", "A100", 80.0, None),
        GpuInfo("v1:0", "v1", "V100", 16.0, "r1"),
    )
    index = c.gpu_index()
    assert list(index) == [g.gpu_id for g in c.gpus()]
    assert index["a0:2"] == GpuInfo("a0:2", "a0", "A100", 80.0, None)
    assert c.describe() == "3 nodes, 6 GPUs (3 x V100, 3 x A100)"


def test_uniform_cluster() -> None:
    c = Cluster.uniform(3, 4)
    assert [n.node_id for n in c.nodes] == ["n0", "n1", "n2"]
    assert all(n == Node(n.node_id, "V100", 4, 32.0, None) for n in c.nodes)
    assert c.describe() == "3 nodes, 12 GPUs (12 x V100)"
    racked = Cluster.uniform(5, 2, "A100", 80.0, nodes_per_rack=2)
    assert [n.rack for n in racked.nodes] == ["r0", "r0", "r1", "r1", "r2"]
    assert [g.rack for g in racked.gpus()][:5] == ["r0", "r0", "r0", "r0", "r1"]
    assert racked.gpu_index()["n4:1"] == GpuInfo("n4:1", "n4", "A100", 80.0, "r2")
    assert [n.rack for n in Cluster.uniform(2, 1, nodes_per_rack=0).nodes] == [None, None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 4), "a cluster needs --nodes >= 1 and --gpus-per-node >= 1, got 0 and 4"),
        ((2, 0), "a cluster needs --nodes >= 1 and --gpus-per-node >= 1, got 2 and 0"),
        ((2, 4, ""), "--gpu-type must be a non-empty GPU type name"),
        ((2, 4, "V100", 0.0), "--gpu-mem-gib must be a number > 0, got 0.0"),
        ((2, 4, "V100", float("nan")), "--gpu-mem-gib must be a number > 0, got nan"),
    ],
)
def test_uniform_cluster_errors_are_user_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(UserError) as info:
        Cluster.uniform(*args)  # type: ignore[arg-type]
    assert str(info.value) == message


@given(st.integers(1, 20), st.integers(1, 16), st.none() | st.integers(1, 5))
def test_uniform_cluster_gpu_ids_are_unique_and_complete(nodes: int, per_node: int, per_rack: int | None) -> None:
    c = Cluster.uniform(nodes, per_node, nodes_per_rack=per_rack)
    ids = [g.gpu_id for g in c.gpus()]
    assert len(ids) == len(set(ids)) == c.num_gpus == nodes * per_node
    assert set(c.gpu_index()) == set(ids)
    assert c.max_gpus_per_node == per_node
    racks = {n.rack for n in c.nodes}
    assert racks == ({None} if per_rack is None else {f"r{i}" for i in range(-(-nodes // per_rack))})


# ----- load_cluster_toml: happy path ------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "cluster.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_load_with_count_id_and_rack(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "# two kinds of node\n"
        "[[nodes]]\ncount = 2\n" + GROUP + 'rack = "r0"\n'
        '[[nodes]]\nid = "big"\ngpu_type = "V100"\nnum_gpus = 4\ngpu_mem_gib = 32\n'
        "[[nodes]]\n" + GROUP + 'rack = ""\n'
        '[[nodes]]\ncount = 1\nid = "x-1"\ngpu_type = "H100 SXM"\nnum_gpus = 1\ngpu_mem_gib = 79.5\n',
    )
    c = load_cluster_toml(p)
    assert c.nodes == (
        Node("a100-0", "A100", 8, 80.0, "r0"),
        Node("a100-1", "A100", 8, 80.0, "r0"),
        Node("big", "V100", 4, 32.0, None),
        Node("a100-2", "A100", 8, 80.0, None),  # an empty rack means none; numbering goes on per type
        Node("x-1", "H100 SXM", 1, 79.5, None),
    )
    assert isinstance(c.nodes[2].gpu_mem_gib, float)
    assert c.describe() == "5 nodes, 29 GPUs (24 x A100, 4 x V100, 1 x H100 SXM)"


def test_load_generated_ids_use_a_slug_of_the_type(tmp_path: Path) -> None:
    c = load_cluster_toml(_write(tmp_path, '[[nodes]]\ncount = 2\ngpu_type = "RTX 6000"\nnum_gpus = 2\ngpu_mem_gib = 24\n'))
    assert [n.node_id for n in c.nodes] == ["rtx-6000-0", "rtx-6000-1"]
    assert c.gpus()[-1].gpu_id == "rtx-6000-1:1"


def test_load_accepts_str_path_and_a_byte_order_mark(tmp_path: Path) -> None:
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + ("[[nodes]]\n" + GROUP).encode())
    assert load_cluster_toml(str(p)).nodes == (Node("a100-0", "A100", 8, 80.0),)


# ----- load_cluster_toml: errors ----------------------------------------------------------------


def _error(p: Path) -> str:
    with pytest.raises(TraceError) as info:
        load_cluster_toml(p)
    return str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.toml") == f"{tmp_path / 'nope.toml'}: no such file"
    assert _error(tmp_path) == f"{tmp_path}: is a directory; expected a cluster TOML file"


@pytest.mark.parametrize("text", ["[[nodes]]\ncount = \n", "nodes = [", "[[nodes]]\ncount = 1\ncount = 2\n"])
def test_bad_toml(tmp_path: Path, text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as parse:
        tomllib.loads(text)
    p = _write(tmp_path, text)
    assert _error(p) == f"{p}: not valid TOML ({parse.value})"


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "latin1.toml"
    p.write_bytes(("[[nodes]]\n" + GROUP + 'rack = "café"\n').encode("latin-1"))
    assert _error(p) == f"{p}: not UTF-8 text; expected a cluster TOML file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # TraceError quotes every string `found`, so the descriptions below show in quotes.
        ("", "field 'nodes': expected one or more [[nodes]] tables but found 'nothing'"),
        ("# only a comment\n", "field 'nodes': expected one or more [[nodes]] tables but found 'nothing'"),
        ("nodes = []\n", "field 'nodes': expected one or more [[nodes]] tables but found 'list'"),
        ("nodes = 3\n", "field 'nodes': expected one or more [[nodes]] tables but found 'int'"),
        ("[nodes]\ncount = 1\n", "field 'nodes': expected one or more [[nodes]] tables but found 'dict'"),
        ("nodes = [1]\n", "field 'nodes[0]': expected a table"),
        ("[[nodes]]\n" + GROUP + "[cluster]\nname = 'x'\n",
         "field 'cluster': unknown key; expected only [[nodes]] tables at top level"),
        ("zeta = 1\nalpha = 2\n[[nodes]]\n" + GROUP,
         "field 'alpha': unknown key; expected only [[nodes]] tables at top level"),
        ("[[nodes]]\n" + GROUP + "gpus = 8\n", f"field 'nodes[0].gpus': unknown key; expected one of {NODE_KEYS}"),
        ("[[nodes]]\n" + GROUP + "[[nodes]]\n" + GROUP + "Count = 2\n",
         f"field 'nodes[1].Count': unknown key; expected one of {NODE_KEYS}"),
        ("[[nodes]]\nnum_gpus = 8\ngpu_mem_gib = 80\n", "field 'nodes[0].gpu_type': missing key; expected a string"),
        ('[[nodes]]\ngpu_type = "A100"\ngpu_mem_gib = 80\n',
         "field 'nodes[0].num_gpus': missing key; expected an integer"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\n',
         "field 'nodes[0].gpu_mem_gib': missing key; expected a number"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = "eight"\ngpu_mem_gib = 80\n',
         "field 'nodes[0].num_gpus': expected an integer but found 'eight'"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8.0\ngpu_mem_gib = 80\n',
         "field 'nodes[0].num_gpus': expected an integer but found 8.0"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = true\ngpu_mem_gib = 80\n',
         "field 'nodes[0].num_gpus': expected an integer but found True"),
        ("[[nodes]]\ncount = 2.0\n" + GROUP, "field 'nodes[0].count': expected an integer but found 2.0"),
        ("[[nodes]]\ncount = '2'\n" + GROUP, "field 'nodes[0].count': expected an integer but found '2'"),
        ('[[nodes]]\ngpu_type = 100\nnum_gpus = 8\ngpu_mem_gib = 80\n',
         "field 'nodes[0].gpu_type': expected a string but found 100"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = "80"\n',
         "field 'nodes[0].gpu_mem_gib': expected a number but found '80'"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = false\n',
         "field 'nodes[0].gpu_mem_gib': expected a number but found False"),
        ("[[nodes]]\n" + GROUP + "rack = 1\n", "field 'nodes[0].rack': expected a string but found 1"),
        ("[[nodes]]\n" + GROUP + "id = 7\n", "field 'nodes[0].id': expected a string but found 7"),
        ("[[nodes]]\n" + GROUP + "id = ['a']\n", "field 'nodes[0].id': expected a string but found ['a']"),
        ("[[nodes]]\ncount = 0\n" + GROUP, "field 'nodes[0].count': expected an integer >= 1 but found 0"),
        ("[[nodes]]\ncount = -3\n" + GROUP, "field 'nodes[0].count': expected an integer >= 1 but found -3"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 0\ngpu_mem_gib = 80\n',
         "field 'nodes[0].num_gpus': expected an integer >= 1 but found 0"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = 0\n',
         "field 'nodes[0].gpu_mem_gib': expected a number > 0 but found 0.0"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = -1.5\n',
         "field 'nodes[0].gpu_mem_gib': expected a number > 0 but found -1.5"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = inf\n',
         "field 'nodes[0].gpu_mem_gib': expected a number > 0 but found inf"),
        ('[[nodes]]\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = nan\n',
         "field 'nodes[0].gpu_mem_gib': expected a number > 0 but found nan"),
        ('[[nodes]]\ngpu_type = ""\nnum_gpus = 8\ngpu_mem_gib = 80\n',
         "field 'nodes[0].gpu_type': expected a non-empty string but found ''"),
        ("[[nodes]]\ncount = 2\nid = 'x'\n" + GROUP,
         "field 'nodes[0].id': expected no 'id' when count > 1 (ids are generated)"),
        ("[[nodes]]\nid = 'rack1:x'\n" + GROUP, "field 'nodes[0].id': expected an id without ':', ';' or spaces but found 'rack1:x'"),
        ("[[nodes]]\nid = 'x'\n" + GROUP + "[[nodes]]\nid = 'y'\n" + GROUP + "[[nodes]]\nid = 'x'\n" + GROUP,
         "field 'nodes': expected unique node ids but found 'x'"),
        # A given id can collide with a generated one.
        ("[[nodes]]\nid = 'a100-1'\n" + GROUP + "[[nodes]]\ncount = 2\n" + GROUP,
         "field 'nodes': expected unique node ids but found 'a100-1'"),
    ],
)
def test_load_errors(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    assert _error(p) == f"{p}: {message}"


def test_load_error_is_a_user_error_with_fields(tmp_path: Path) -> None:
    p = _write(tmp_path, "[[nodes]]\ncount = 0\n" + GROUP)
    with pytest.raises(UserError) as info:
        load_cluster_toml(p)
    err = info.value
    assert isinstance(err, TraceError)
    assert (err.path, err.row, err.field, err.expected, err.found) == (
        str(p), None, "nodes[0].count", "an integer >= 1", 0)
