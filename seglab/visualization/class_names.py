"""Class names of the standard datasets, in class-index order (MMSeg's ``get_classes``)."""
from __future__ import annotations

from typing import List

from seglab.visualization.palettes import canonical_dataset_name

_VOC = ("background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog "
        "horse motorbike person pottedplant sheep sofa train tvmonitor")

_CITYSCAPES = ("road|sidewalk|building|wall|fence|pole|traffic light|traffic sign|vegetation|"
               "terrain|sky|person|rider|car|truck|bus|train|motorcycle|bicycle")

# ADE20K SceneParsing; 'bed ' keeps the trailing space MMSeg's names have, so per-class log keys
# ('IoU.bed ') match logs and checkpoints made with MMSeg.
_ADE = (
    "wall|building|sky|floor|tree|ceiling|road|bed |windowpane|grass|cabinet|sidewalk|person|"
    "earth|door|table|mountain|plant|curtain|chair|car|water|painting|sofa|shelf|house|sea|"
    "mirror|rug|field|armchair|seat|fence|desk|rock|wardrobe|lamp|bathtub|railing|cushion|base|"
    "box|column|signboard|chest of drawers|counter|sand|sink|skyscraper|fireplace|refrigerator|"
    "grandstand|path|stairs|runway|case|pool table|pillow|screen door|stairway|river|bridge|"
    "bookcase|blind|coffee table|toilet|flower|book|hill|bench|countertop|stove|palm|"
    "kitchen island|computer|swivel chair|boat|bar|arcade machine|hovel|bus|towel|light|truck|"
    "tower|chandelier|awning|streetlight|booth|television receiver|airplane|dirt track|apparel|"
    "pole|land|bannister|escalator|ottoman|bottle|buffet|poster|stage|van|ship|fountain|"
    "conveyer belt|canopy|washer|plaything|swimming pool|stool|barrel|basket|waterfall|tent|bag|"
    "minibike|cradle|oven|ball|food|step|tank|trade name|microwave|pot|animal|bicycle|lake|"
    "dishwasher|screen|blanket|sculpture|hood|sconce|vase|traffic light|tray|ashcan|fan|pier|"
    "crt screen|plate|monitor|bulletin board|shower|radiator|glass|clock|flag")

_CLASSES = {"voc": _VOC.split(), "cityscapes": _CITYSCAPES.split("|"), "ade": _ADE.split("|")}


def get_classes(dataset: str) -> List[str]:
    """Class names of a dataset by name ('voc', 'cityscapes', 'ade20k' and their aliases)."""
    return list(_CLASSES[canonical_dataset_name(dataset)])
