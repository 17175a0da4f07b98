"""The province's licensing-item catalog (行政许可事项目录): limits, fees, materials and conditions per item.

Limits are working days (art. 82). Most items are free since the 2015-2017 fee reforms; land registration
and the driving licence keep their published fees. ``UNKNOWN_ITEM`` is a withdrawn code that outdated
department systems still send: it is deliberately absent from the catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from schemas.catalog import Catalog, CatalogItem, parse_catalog

VERSION = "sim-2026.1"
UNKNOWN_ITEM = "SC-OLD-900"

_FEE_BASIS = "发改价格规〔2016〕2559号"

# (item, demand weight, special procedures its cases may need). Weights are relative application volumes.
_ITEMS: tuple[tuple[dict[str, Any], float, tuple[str, ...]], ...] = (
    (
        {
            "code": "SC-SCJG-001",
            "name": "食品经营许可",
            "department_id": "SC-SCJG",
            "limits": {"decision": {"statutory": 20, "promised": 10}},
            "separate_review_approval": True,
            "steps": {"review": 4, "decision": 3},
            "min_decision_minutes": 240,
            "required_materials": ["application_form", "business_licence", "floor_plan", "food_safety_rules"],
            "required_conditions": ["premises_inspected"],
        },
        15,
        ("inspection",),
    ),
    (
        {
            "code": "SC-SCJG-002",
            "name": "药品零售企业经营许可",
            "department_id": "SC-SCJG",
            "limits": {"decision": {"statutory": 30, "promised": 15}},
            "separate_review_approval": True,
            "required_materials": ["application_form", "pharmacist_certificate", "floor_plan"],
            "required_conditions": ["premises_inspected", "pharmacist_on_staff"],
        },
        4,
        ("inspection",),
    ),
    (
        {
            "code": "SC-SCJG-003",
            "name": "特种设备使用登记",
            "department_id": "SC-SCJG",
            "limits": {"decision": {"statutory": 15, "promised": 5}},
            "required_materials": ["application_form", "inspection_report"],
        },
        6,
        ("testing",),
    ),
    (
        {
            "code": "SC-ZRZY-001",
            "name": "不动产登记",
            "department_id": "SC-ZRZY",
            "limits": {
                "accept": {"statutory": 5, "promised": 1},
                "decision": {"statutory": 30, "promised": 5},
                "delivery": {"statutory": 10, "promised": 3},
            },
            "fees": [
                {"code": "REG-HOUSE", "name": "住宅登记费", "standard_fen": 8000, "basis": _FEE_BASIS},
                {"code": "CERT", "name": "证书工本费", "standard_fen": 1000, "basis": _FEE_BASIS},
            ],
            "required_materials": ["application_form", "identity", "title_deed"],
        },
        30,
        ("appraisal",),
    ),
    (
        {
            "code": "SC-ZRZY-002",
            "name": "建设用地规划许可",
            "department_id": "SC-ZRZY",
            "limits": {"decision": {"statutory": 20, "promised": 10}},
            "separate_review_approval": True,
            "required_materials": ["application_form", "site_plan"],
            "required_conditions": ["land_use_approved"],
        },
        3,
        ("expert_review", "hearing"),
    ),
    (
        {
            "code": "SC-ZJ-001",
            "name": "建筑工程施工许可",
            "department_id": "SC-ZJ",
            "limits": {"decision": {"statutory": 20, "promised": 7}},
            "max_extension": 10,
            "separate_review_approval": True,
            "required_conditions": ["land_use_approved", "planning_permit", "safety_measures"],
        },
        5,
        ("expert_review",),
    ),
    (
        {
            "code": "SC-ZJ-002",
            "name": "燃气经营许可",
            "department_id": "SC-ZJ",
            "limits": {"decision": {"statutory": 20, "promised": 15}},
            "required_materials": ["application_form", "safety_assessment"],
            "required_conditions": ["site_safety_assessed"],
        },
        1,
        ("inspection", "expert_review"),
    ),
    (
        {
            "code": "SC-ZJ-003",
            "name": "商品房预售许可",
            "department_id": "SC-ZJ",
            "limits": {"decision": {"statutory": 10, "promised": 5}},
            "required_materials": ["application_form", "construction_permit", "sales_plan"],
        },
        2,
        ("inspection",),
    ),
    (
        {
            "code": "SC-FGW-001",
            "name": "重大工业项目联合审批",
            "department_id": "SC-FGW",
            "joint_handling": True,
            "deemed_approval": {"basis": "模拟：市人民政府关于重大工业项目审批超时默认的规定（地方政策）"},
            "required_materials": ["application_form", "feasibility_study"],
        },
        1,
        ("expert_review", "hearing"),
    ),
    (
        {
            "code": "SC-FGW-002",
            "name": "企业投资项目核准",
            "department_id": "SC-FGW",
            "limits": {"decision": {"statutory": 20, "promised": 15}},
            "issues_certificate": False,
            "required_materials": ["application_form", "project_report"],
        },
        2,
        ("expert_review", "appraisal"),
    ),
    (
        {
            "code": "SC-WJ-001",
            "name": "医疗机构执业许可（初审）",
            "department_id": "SC-WJ",
            "limits": {"review": {"statutory": 20, "promised": 10}, "decision": {"statutory": 20}},
            "separate_review_approval": True,
            "required_materials": ["application_form", "floor_plan", "staff_list"],
            "required_conditions": ["premises_inspected"],
        },
        3,
        ("inspection", "appraisal"),
    ),
    (
        {
            "code": "SC-WJ-002",
            "name": "公共场所卫生许可",
            "department_id": "SC-WJ",
            "limits": {"decision": {"statutory": 20, "promised": 10}},
            "steps": {"review": 5, "decision": 3},
            "min_decision_minutes": 240,
            "required_materials": ["application_form", "hygiene_rules"],
            "required_conditions": ["premises_inspected"],
        },
        8,
        ("testing",),
    ),
    (
        {
            "code": "SC-JT-001",
            "name": "道路货物运输经营许可",
            "department_id": "SC-JT",
            "limits": {"decision": {"statutory": 20, "promised": 10}},
            "steps": {"review": 5},
            "required_materials": ["application_form", "vehicle_list", "driver_licences"],
        },
        5,
        ("inspection",),
    ),
    (
        {
            "code": "SC-STHJ-001",
            "name": "排污许可",
            "department_id": "SC-STHJ",
            "limits": {"decision": {"statutory": 20, "promised": 15}},
            "separate_review_approval": True,
            "required_materials": ["application_form", "monitoring_plan"],
            "required_conditions": ["emission_standards_met"],
        },
        3,
        ("testing", "expert_review"),
    ),
    (
        {
            "code": "SC-STHJ-002",
            "name": "建设项目环境影响报告表审批",
            "department_id": "SC-STHJ",
            "limits": {"decision": {"statutory": 30, "promised": 20}},
            "issues_certificate": False,
            "required_materials": ["application_form", "eia_report"],
        },
        2,
        ("expert_review", "hearing"),
    ),
    (
        {
            "code": "SC-WGL-001",
            "name": "娱乐场所经营许可",
            "department_id": "SC-WGL",
            "limits": {"decision": {"statutory": 20, "promised": 10}},
            "required_materials": ["application_form", "fire_safety_certificate"],
            "required_conditions": ["premises_inspected"],
        },
        3,
        ("inspection", "hearing"),
    ),
    (
        {
            "code": "SC-WGL-002",
            "name": "出版物零售许可",
            "department_id": "SC-WGL",
            "limits": {"decision": {"statutory": 20, "promised": 5}},
            "required_materials": ["application_form", "business_licence"],
        },
        3,
        (),
    ),
    (
        {
            "code": "SC-GA-001",
            "name": "机动车驾驶证申领",
            "department_id": "SC-GA",
            "limits": {"accept": {"statutory": 5, "promised": 1}, "decision": {"statutory": 20, "promised": 3}},
            "fees": [{"code": "DL-CERT", "name": "驾驶证工本费", "standard_fen": 1000, "basis": _FEE_BASIS}],
            "required_materials": ["application_form", "identity", "health_certificate", "exam_record"],
        },
        12,
        ("testing",),
    ),
)


def build_catalog() -> Catalog:
    """The simulated province's licensing-item catalog (目录), parsed as the platform parses a published one."""
    return parse_catalog({"version": VERSION, "items": [spec for spec, _, _ in _ITEMS]}, source="sim.catalog")


def demand() -> dict[str, float]:
    """Relative application volume per item code."""
    return {spec["code"]: weight for spec, weight, _ in _ITEMS}


def procedures(code: str) -> tuple[str, ...]:
    """The special procedures (art. 45) cases of this item typically go through."""
    for spec, _, procs in _ITEMS:
        if spec["code"] == code:
            return procs or ("expert_review",)
    return ("expert_review",)


def unknown_item() -> CatalogItem:
    """The stand-in for a code missing from the catalog: the law's default limits and no checks of its own."""
    return CatalogItem(code=UNKNOWN_ITEM, name="已取消事项（目录外）", department_id="SC-SCJG")


def department_kind(item: CatalogItem) -> str:
    """The department kind of an item: its department id without the ``SC-`` prefix."""
    return item.department_id.removeprefix("SC-")


def write_catalog(catalog: Catalog, path: Path) -> Path:
    """Write the catalog YAML that `esup catalog publish` and `esup evaluate --catalog` read."""
    header = (
        "# Simulated licensing-item catalog of a Sichuan-like province (written by `esup simulate`).\n"
        "# Limits are working days (art. 82); omitted limits take the law's defaults (schemas/catalog.py).\n"
    )
    body = yaml.safe_dump(
        catalog.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False, width=120
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body, encoding="utf-8")
    return path
