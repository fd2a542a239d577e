"""Issue 20's training parity: 20 SGD steps of a small detection head (a conv
stem, a modulated deformable conv, roi_align over given boxes, a linear
classifier), once with torchvision's ops and once with clnn.torch's, from the
same weights on the same data. The losses agree within 1e-4 at every step."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as tvo

import clnn.torch as ct


class Head(nn.Module):
    def __init__(self, deform_conv2d, roi_align):
        super().__init__()
        self.deform_conv2d, self.roi_align = deform_conv2d, roi_align
        self.stem1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.stem2 = nn.Conv2d(8, 8, 3, padding=1)
        self.offset = nn.Conv2d(8, 3 * 9, 3, padding=1)  # 18 offsets + 9 mask logits
        self.weight = nn.Parameter(torch.randn(16, 8, 3, 3) * 0.1)
        self.bias = nn.Parameter(torch.zeros(16))
        self.fc = nn.Linear(16 * 2 * 2, 5)

    def forward(self, images, boxes):
        x = F.relu(self.stem1(images))
        x = F.relu(x + self.stem2(x))  # a residual block
        om = self.offset(x)
        x = F.relu(self.deform_conv2d(x, om[:, :18], self.weight, self.bias, padding=(1, 1),
                                      mask=torch.sigmoid(om[:, 18:])))
        r = self.roi_align(x, boxes, (2, 2), 0.5, 2, True)
        return self.fc(r.flatten(1))


def train(deform_conv2d, roi_align, steps=20):
    torch.manual_seed(1)
    model = Head(deform_conv2d, roi_align)
    torch.manual_seed(2)
    images = torch.randn(2, 3, 24, 20)
    boxes = torch.tensor([[0, 1.0, 2, 15, 18], [0, 4, 4, 12, 9], [1, 0, 0, 19, 23], [1, 6.5, 3, 17, 11]])
    labels = torch.tensor([0, 3, 1, 4])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(images, boxes), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_parity():
    ref = train(tvo.deform_conv2d, tvo.roi_align)
    ours = train(ct.deform_conv2d, ct.roi_align)
    assert ref[-1] < ref[0]  # it learns
    for step, (a, b) in enumerate(zip(ours, ref)):
        assert abs(a - b) <= 1e-4, f"step {step}: clnn {a} vs torchvision {b}"
