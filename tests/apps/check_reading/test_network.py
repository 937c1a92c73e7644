import pytest
import torch

from apps.check_reading.network import LeNet5, SpaceDisplacementNet


def _channels_last(net) -> list[bool]:
    """Per convolution with several input channels (with one, both layouts coincide): are its
    weights laid out channels-last?"""
    return [
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1
    ]


@pytest.mark.parametrize(
    "net, inputs",
    [
        (LeNet5, lambda: (torch.rand(40, 1, 32, 32), torch.randn(40))),
        (SpaceDisplacementNet, lambda: (torch.rand(3, 1, 32, 57),)),
    ],
)
def test_convolutions_run_channels_last_with_the_plain_layouts_energies(net, inputs):
    model = net().eval()
    assert _channels_last(model) and all(_channels_last(model))
    plain = net()
    plain.load_state_dict(model.state_dict())
    for p in plain.parameters():
        p.data = p.data.contiguous()
    assert not any(_channels_last(plain.eval()))
    x = inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(*x), plain(*x), rtol=1e-5, atol=1e-5)
