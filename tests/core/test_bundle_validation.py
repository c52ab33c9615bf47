"""Edited model files, checksum recomputed as an attacker would: each ends in one single-line BundleError naming the
file and the problem, before anything is built; untouched files load and sample as before."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import invert.core as ic
from invert.core.bundle import BundleError, _digest, load_for


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny cINN (one epoch) on a linear toy with bounded x, saved once for the module."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (400, 2))
    y = x @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(400, 3))
    post = ic.fit(
        x,
        y,
        method="cinn",
        x_bounds=[(0.0, 1.0), (0.0, 1.0)],
        max_epochs=1,
        progress=False,
        seed=0,
        net=ic.NetConfig(n_blocks=2, hidden=16),
        accelerator="cpu",
        devices=1,
    )
    path = tmp_path_factory.mktemp("bundle") / "good.invert"
    post.save(path)
    return path, post


def read_raw(path):
    """(metadata dict, tensors) of a bundle, without any checks."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["invert"]), {k: f.get_tensor(k) for k in f.keys()}


def forge(src, dst, edit):
    """Copy src to dst through edit(meta, tensors) (in place; may return replacement metadata text), with a valid
    checksum over the result."""
    meta, tensors = read_raw(src)
    text = edit(meta, tensors)
    meta_json = text if isinstance(text, str) else json.dumps(meta, sort_keys=True)
    save_file(tensors, str(dst), metadata={"invert": meta_json, "sha256": _digest(tensors, meta_json)})
    return dst


def first(tensors, prefix, dtype=torch.float32):
    """Name of the first tensor with a prefix and dtype."""
    return next(k for k in sorted(tensors) if k.startswith(prefix) and tensors[k].dtype == dtype)


def setter(*keys, value):
    """An edit that sets meta[keys[0]][keys[1]]... to value."""

    def edit(meta, tensors):
        d = meta
        for key in keys[:-1]:
            d = d[key]
        d[keys[-1]] = value

    return edit


def deleter(*keys):
    """An edit that deletes meta[keys[0]]...[keys[-1]]."""

    def edit(meta, tensors):
        d = meta
        for key in keys[:-1]:
            d = d[key]
        del d[keys[-1]]

    return edit


def tensor_edit(name, fn):
    """An edit that replaces tensor `name` (or the first float net weight for "net.") by fn(tensor)."""

    def edit(meta, tensors):
        key = first(tensors, "net.") if name == "net." else name
        tensors[key] = fn(tensors[key].clone())

    return edit


def nan_at_0(t):
    t.view(-1)[0] = float("nan")
    return t


def inf_at_0(t):
    t.view(-1)[0] = float("inf")
    return t


def zero_at_0(t):
    t[0] = 0.0
    return t


def add_tensors(**new):
    """An edit that adds tensors (name: value); "__" in a name stands for "."."""

    def edit(meta, tensors):
        tensors.update({k.replace("__", "."): v for k, v in new.items()})

    return edit


def del_first_net_weight(meta, tensors):
    del tensors[first(tensors, "net.")]


def swap_perm(meta, tensors):
    key = first(tensors, "net.", torch.int64)
    tensors[key] = torch.zeros_like(tensors[key])


def double_weight(meta, tensors):
    key = first(tensors, "net.")
    tensors[key] = tensors[key].double()


def knn_ood(n_ref, k):
    """An edit that turns the OOD scorer into a k-NN one with n_ref reference rows."""

    def edit(meta, tensors):
        tensors["ood.reference"] = torch.zeros(n_ref, meta["dy"], dtype=torch.float64)
        if k is not None:
            tensors["ood.k"] = torch.tensor(float(k), dtype=torch.float64)

    return edit


# (id, edit, what the message must name)
CASES = [
    ("missing-x_scaler.mean", lambda m, t: t.pop("x_scaler.mean"), "x_scaler.mean"),
    ("missing-net-weight", del_first_net_weight, "missing"),
    ("extra-tensor", add_tensors(net__extra=torch.zeros(3)), "net.extra"),
    ("extra-tensor-newline-name", add_tensors(**{"evil\nname": torch.zeros(1)}), "unexpected"),
    ("x_scaler-length", tensor_edit("x_scaler.mean", lambda t: t[:1]), "x_scaler.mean"),
    ("y_scaler-length", tensor_edit("y_scaler.std", lambda t: torch.cat([t, t])), "y_scaler.std"),
    ("scaler-std-zero", tensor_edit("x_scaler.std", zero_at_0), "x_scaler.std"),
    ("scaler-std-negative", tensor_edit("y_scaler.std", lambda t: -t), "y_scaler.std"),
    ("scaler-nan", tensor_edit("x_scaler.mean", nan_at_0), "x_scaler.mean"),
    ("weight-inf", tensor_edit("net.", inf_at_0), "infinite"),
    ("weight-dtype", double_weight, "dtype"),
    ("perm-not-permutation", swap_perm, "permutation"),
    ("meta-not-json", lambda m, t: "{not json", "JSON"),
    ("meta-deeply-nested", lambda m, t: "[" * 100_000 + "]" * 100_000, "JSON"),
    ("meta-not-object", lambda m, t: "[1, 2]", "object"),
    ("missing-format", deleter("format"), "format"),
    *[(f"missing-{key}", deleter(key), key) for key in ("method", "dx", "dy", "x_bounds", "net_config", "metadata")],
    ("unknown-field", setter("bogus", value=1), "bogus"),
    ("dx-string", setter("dx", value="thirteen"), "dx"),
    ("dx-bool", setter("dx", value=True), "dx"),
    ("dx-zero", setter("dx", value=0), "dx"),
    ("dy-wrong", setter("dy", value=4), "dy"),
    ("dx-huge", setter("dx", value=10**12), "dx"),
    ("n_blocks-string", setter("net_config", "n_blocks", value="many"), "n_blocks"),
    ("n_blocks-zero", setter("net_config", "n_blocks", value=0), "n_blocks"),
    ("n_blocks-huge", setter("net_config", "n_blocks", value=10**7), "n_blocks"),
    ("hidden-negative", setter("net_config", "hidden", value=-5), "hidden"),
    ("hidden-huge", setter("net_config", "hidden", value=2**20), "hidden"),
    ("hidden-astronomic", setter("net_config", "hidden", value=10**30), "hidden"),
    ("depth-huge", setter("net_config", "depth", value=10**6), "depth"),
    ("hidden-other-size", setter("net_config", "hidden", value=32), "shape"),
    ("alpha-nan", setter("net_config", "alpha", value=float("nan")), "alpha"),
    ("actnorm-int", setter("net_config", "actnorm", value=1), "actnorm"),
    ("unknown-net_config-key", setter("net_config", "bogus", value=1), "bogus"),
    ("coupling-unknown", setter("net_config", "coupling", value="glow" * 1000), "coupling"),
    ("coupling-number", setter("net_config", "coupling", value=2), "coupling"),
    ("coupling-other-weights", setter("net_config", "coupling", value="affine"), "shape"),
    ("ensemble-huge", setter("net_config", "ensemble", value=10**6), "ensemble"),
    ("ensemble-other-weights", setter("net_config", "ensemble", value=2), "tensor"),
    ("bins-zero", setter("net_config", "bins", value=0), "bins"),
    ("net_config-not-object", setter("net_config", value=[8, 16]), "net_config"),
    ("unknown-method", setter("method", value="gan"), "method"),
    ("x_bounds-number", setter("x_bounds", value=5), "x_bounds"),
    ("x_bounds-length", setter("x_bounds", value=[[0.0, 1.0]]), "x_bounds"),
    ("x_bounds-lo-above-hi", setter("x_bounds", value=[[1.0, 0.0], [0.0, 1.0]]), "x_bounds[0]"),
    ("x_bounds-equal", setter("x_bounds", value=[[0.0, 1.0], [2.0, 2.0]]), "x_bounds[1]"),
    ("x_bounds-string", setter("x_bounds", value=[[0.0, "1"], [0.0, 1.0]]), "x_bounds[0]"),
    ("metadata-not-object", setter("metadata", value=[]), "metadata"),
    ("metadata-seed-negative", setter("metadata", "seed", value=-1), "seed"),
    ("metadata-seed-string", setter("metadata", "seed", value="0"), "seed"),
    ("metadata-x_names", setter("metadata", "x_names", value=["a"]), "x_names"),
    ("metadata-n_nuisance-all", setter("metadata", "n_nuisance", value=2), "n_nuisance"),
    ("metadata-n_nuisance-negative", setter("metadata", "n_nuisance", value=-1), "n_nuisance"),
    ("metadata-n_nuisance-text", setter("metadata", "n_nuisance", value="1"), "n_nuisance"),
    ("metadata-n_nuisance-bool", setter("metadata", "n_nuisance", value=True), "n_nuisance"),
    ("metadata-n_nuisance-float", setter("metadata", "n_nuisance", value=1.0), "n_nuisance"),
    ("metadata-y_noise", setter("metadata", "y_noise", value="lots"), "y_noise"),
    ("metadata-y_noise-length", setter("metadata", "y_noise", value=[0.1, 0.1, 0.1, 0.1, 0.1]), "y_noise"),
    ("metadata-y_noise-negative", setter("metadata", "y_noise", value=[0.1, -0.1]), "y_noise"),
    ("metadata-y_noise-inf", setter("metadata", "y_noise", value=float("inf")), "y_noise"),
    ("ood-missing-whitening", lambda m, t: t.pop("ood.whitening"), "ood.whitening"),
    ("ood-whitening-shape", tensor_edit("ood.whitening", lambda t: t[:1]), "ood.whitening"),
    ("ood-mean-nan", tensor_edit("ood.mean", nan_at_0), "ood.mean"),
    ("ood-threshold-inf", tensor_edit("ood.threshold", lambda t: t + float("inf")), "ood.threshold"),
    ("ood-quantile", tensor_edit("ood.quantile", lambda t: t * 0 + 2), "ood.quantile"),
    ("ood-reference-without-k", knn_ood(10, None), "ood.k"),
    ("ood-k-above-reference", knn_ood(3, 5), "ood.k"),
    ("ood-k-fraction", knn_ood(10, 2.5), "ood.k"),
    ("ood-unknown", add_tensors(ood__extra=torch.zeros(1)), "ood.extra"),
]


@pytest.mark.parametrize("edit, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edited_bundle_is_refused_in_one_line(bundle, tmp_path, edit, names):
    path = forge(bundle[0], tmp_path / "edited.invert", edit)
    with pytest.raises(BundleError) as info:
        ic.load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and names in message, message
    assert len(message) < 600, message


def test_untouched_and_reforged_bundles_load_and_sample_identically(bundle, tmp_path):
    path, post = bundle
    y = np.array([[0.1, -0.3, 0.5], [1.0, 0.0, -1.0]])
    expected = post.sample(y, 50, seed=3)
    for p in (path, forge(path, tmp_path / "same.invert", lambda meta, tensors: None)):
        again = ic.load(p)
        np.testing.assert_array_equal(again.sample(y, 50, seed=3), expected)
        np.testing.assert_array_equal(again.log_prob(expected[0], y[0]), post.log_prob(expected[0], y[0]))
        np.testing.assert_array_equal(again.ood_score(y), post.ood_score(y))


def test_knn_ood_scorer_passes(bundle, tmp_path):
    """A consistent k-NN scorer (reference rows and k) is valid."""
    assert ic.load(forge(bundle[0], tmp_path / "knn.invert", knn_ood(10, 5))).ood.k == 5


def test_problem_metadata_the_app_cannot_use_is_a_bundle_error(bundle, tmp_path):
    path = forge(bundle[0], tmp_path / "app.invert", setter("metadata", "problem", value="toy"))
    with pytest.raises(BundleError, match="toy problem") as info:
        load_for(path, "toy", lambda meta: float(meta.get("snr", "ten")))
    assert "\n" not in str(info.value)


def test_bundle_without_the_coupling_keys_loads_as_affine(tmp_path):
    """Files written before spline couplings (no net_config.coupling, no bins) hold affine blocks and load unchanged."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = x + 0.1 * rng.normal(size=(300, 2))
    post = ic.fit(x, y, max_epochs=1, progress=False, net=ic.NetConfig(n_blocks=2, hidden=16, coupling="affine"))
    path = tmp_path / "affine.invert"
    post.save(path)

    def drop(meta, tensors):
        del meta["net_config"]["coupling"], meta["net_config"]["bins"]

    old = ic.load(forge(path, tmp_path / "old.invert", drop))
    assert old.net_config.coupling == "affine"
    np.testing.assert_array_equal(old.sample(y[:2], 50, seed=3), post.sample(y[:2], 50, seed=3))


def test_spline_bundle_round_trips(tmp_path):
    """A spline cINN saves and loads with identical draws and densities; too many bins for its splines is refused."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = x @ rng.normal(size=(2, 2)) + 0.1 * rng.normal(size=(300, 2))
    net = ic.NetConfig(n_blocks=2, hidden=16, coupling="spline", bins=4)
    post = ic.fit(x, y, max_epochs=1, progress=False, net=net, accelerator="cpu", devices=1)
    path = tmp_path / "spline.invert"
    post.save(path)
    again = ic.load(path)
    draws = post.sample(y[:2], 50, seed=3)
    np.testing.assert_array_equal(again.sample(y[:2], 50, seed=3), draws)
    np.testing.assert_array_equal(again.log_prob(draws[0], y[0]), post.log_prob(draws[0], y[0]))
    with pytest.raises(BundleError, match="bins") as info:
        ic.load(forge(path, tmp_path / "bins.invert", setter("net_config", "bins", value=5000)))
    assert "\n" not in str(info.value)
