import numpy as np
import pytest
import timm
import torch

from classifier.inference.factory import (
    OFFLINE_IMAGENET_WEIGHTS,
    PretrainedWeightsUnavailable,
    UnsupportedArchitecture,
    cam_parts,
    create_model,
    load_state_dict_in_order,
)
from classifier.inference.preprocessing import Preprocess


@pytest.fixture(scope="module")
def lite0_source():
    path = OFFLINE_IMAGENET_WEIGHTS["tf_efficientnet_lite0"]()
    return torch.load(path, map_location="cpu", weights_only=True)


LITES = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]


def test_offline_weights_exist_for_lite0_to_lite2():
    assert sorted(OFFLINE_IMAGENET_WEIGHTS) == LITES


@pytest.mark.parametrize("arch", LITES)
def test_offline_weights_fill_every_tensor_of_the_timm_model_and_recognise_a_real_photo(arch, photo):
    source = torch.load(OFFLINE_IMAGENET_WEIGHTS[arch](), map_location="cpu", weights_only=True)
    model = timm.create_model(arch, num_classes=1000)
    consumed = load_state_dict_in_order(model, source)
    target = model.state_dict()
    assert consumed == len(source) == len(target)
    for source_tensor, model_tensor in zip(source.values(), target.values()):
        assert torch.equal(source_tensor, model_tensor)
    # The TF-Lite weights were trained on inputs scaled to [-1, 1].
    size = model.pretrained_cfg["input_size"][-1]
    pre = Preprocess(img_size=size, mean=(0.5,) * 3, std=(0.5,) * 3, color_constancy=None)
    with torch.no_grad():
        probs = model.eval()(torch.from_numpy(pre(photo))[None]).softmax(-1)[0]
    top5 = {int(i) for i in probs.topk(5).indices}
    # china.jpg is a Chinese temple: ImageNet palace, monastery, bell cote, church, stupa.
    assert top5 & {698, 663, 442, 497, 832}


def test_in_order_loading_refuses_a_shape_mismatch(lite0_source):
    model = timm.create_model("tf_efficientnet_lite0", num_classes=10)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_state_dict_in_order(model, lite0_source)


def test_imagenet_init_keeps_the_backbone_and_replaces_the_head(lite0_source):
    model = create_model("tf_efficientnet_lite0", num_classes=3, init="imagenet")
    assert model.classifier.out_features == 3
    assert torch.equal(model.conv_stem.weight, lite0_source["_conv_stem.weight"])


def test_imagenet_init_without_offline_weights_names_the_archs_that_have_them(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("hub unreachable")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(PretrainedWeightsUnavailable, match="tf_efficientnet_lite0"):
        create_model("efficientnet_b0", num_classes=1, init="imagenet")


def test_it_loads_a_ddp_training_checkpoint_from_a_path(tmp_path):
    torch.manual_seed(0)
    trained = create_model("test_efficientnet", num_classes=2)
    ckpt = {"model": {f"module.{k}": v for k, v in trained.state_dict().items()}, "epoch": 3}
    torch.save(ckpt, tmp_path / "last.pt")
    loaded = create_model("test_efficientnet", num_classes=2, init=str(tmp_path / "last.pt"))
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_with_another_head_size_loads_with_a_fresh_head(tmp_path):
    torch.save(create_model("test_efficientnet", num_classes=5).state_dict(), tmp_path / "five.pt")
    model = create_model("test_efficientnet", num_classes=1, init=str(tmp_path / "five.pt"))
    assert model.classifier.out_features == 1


def test_it_rejects_an_unknown_arch_and_a_missing_init_file():
    with pytest.raises(ValueError, match="unknown timm architecture"):
        create_model("efficientnet_b99", num_classes=1)
    with pytest.raises(ValueError, match="init must be"):
        create_model("test_efficientnet", num_classes=1, init="/nonexistent/weights.pt")


def test_the_cam_averages_to_the_logit_minus_the_bias():
    torch.manual_seed(0)
    parts = cam_parts(create_model("test_efficientnet", num_classes=3).eval())
    with torch.no_grad():
        logits, features, _ = parts.network(torch.randn(2, 3, 96, 96))
    for c in range(3):
        cam = np.einsum("nkhw,k->nhw", features.numpy(), parts.weight[c])
        np.testing.assert_allclose(cam.mean(axis=(1, 2)) + parts.bias[c], logits[:, c].numpy(), atol=1e-5)


def test_cam_parts_rejects_a_model_without_an_average_pooled_linear_head():
    with pytest.raises(UnsupportedArchitecture):
        cam_parts(create_model("test_vit", num_classes=1))
