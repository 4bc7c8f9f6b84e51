"""The YOLO loss: objectness and class BCE, CIoU box loss, on anchors assigned from the cfg's anchor boxes.

Each ground-truth box is given to its cell in every head whose anchors have a width/height ratio within
``ANCHOR_RATIO`` of it (and always to its best-fitting anchor), as in YOLOv5; predictions that already overlap a
ground truth by more than ``IGNORE_IOU`` are not pushed towards background (YOLOv3's ``ignore_thresh``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, box_iou, complete_box_iou_loss

from headstart.models.darknet import YoloHead

ANCHOR_RATIO = 4.0
IGNORE_IOU = 0.6
BOX_WEIGHT, OBJ_WEIGHT, CLS_WEIGHT = 0.05, 1.0, 0.5


def _assign(gt_wh: torch.Tensor, heads: list[YoloHead]) -> list[torch.Tensor]:
    """Per head, a (G, A) mask of which anchors take which ground-truth boxes."""
    anchors = torch.tensor([a for h in heads for a in h.anchors], device=gt_wh.device)
    ratio = gt_wh[:, None, :] / anchors[None]
    worst = torch.maximum(ratio, 1 / ratio).amax(-1)  # (G, all anchors)
    mask = worst < ANCHOR_RATIO
    if len(gt_wh):
        mask[torch.arange(len(gt_wh)), worst.argmin(1)] = True
    return list(mask.split([len(h.anchors) for h in heads], dim=1))


def yolo_loss(maps: list[torch.Tensor], targets: list[dict], heads: list[YoloHead], input_size: int) -> torch.Tensor:
    """The loss of raw yolo ``maps`` against ``targets`` (``boxes`` xyxy in input pixels, ``labels``)."""
    device = maps[0].device
    box_terms, cls_terms, obj_terms = [], [], []
    gts = [t["boxes"].to(device).float() for t in targets]
    assigned = [_assign(gt[:, 2:] - gt[:, :2], heads) for gt in gts]
    for position, (raw, head) in enumerate(zip(maps, heads, strict=True)):
        b, _, h, w = raw.shape
        stride = input_size / w
        pred = raw.float().view(b, len(head.anchors), 5 + head.num_classes, h, w).permute(0, 1, 3, 4, 2)
        anchors = torch.tensor(head.anchors, device=device)
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        xy = (pred[..., :2].sigmoid() + torch.stack([xs, ys], -1)) * stride
        wh = pred[..., 2:4].clamp(max=8).exp() * anchors.view(1, -1, 1, 1, 2)
        boxes = box_convert(torch.cat([xy, wh], -1), "cxcywh", "xyxy")
        obj_target = torch.zeros(pred.shape[:4], device=device)
        weight = torch.ones_like(obj_target)
        for i, (target, gt) in enumerate(zip(targets, gts, strict=True)):
            if not len(gt):
                continue
            with torch.no_grad():  # ignore: already-good boxes are not background
                best = box_iou(boxes[i].reshape(-1, 4), gt).amax(1).view(weight[i].shape)
                weight[i][best > IGNORE_IOU] = 0
            centre = (gt[:, :2] + gt[:, 2:]) / 2
            g, a = assigned[i][position].nonzero(as_tuple=True)
            gx = (centre[g, 0] / stride).long().clamp(0, w - 1)
            gy = (centre[g, 1] / stride).long().clamp(0, h - 1)
            obj_target[i, a, gy, gx] = 1.0
            weight[i, a, gy, gx] = 1.0
            box_terms.append(complete_box_iou_loss(boxes[i, a, gy, gx], gt[g], reduction="none"))
            cls_target = F.one_hot(target["labels"].to(device)[g], head.num_classes).float()
            cls_terms.append(F.binary_cross_entropy_with_logits(pred[i, a, gy, gx, 5:], cls_target, reduction="none"))
        bce = F.binary_cross_entropy_with_logits(pred[..., 4], obj_target, reduction="none")
        obj_terms.append((bce * weight).sum() / weight.sum().clamp(min=1))
    box_loss = torch.cat(box_terms).mean() if box_terms else maps[0].sum() * 0
    cls_loss = torch.cat(cls_terms).mean() if cls_terms else maps[0].sum() * 0
    return len(targets) * (BOX_WEIGHT * box_loss + OBJ_WEIGHT * torch.stack(obj_terms).sum() + CLS_WEIGHT * cls_loss)
