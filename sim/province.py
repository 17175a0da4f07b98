"""The province: cities and counties by GB/T 2260 code, their licensing departments, windows and staff."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Sichuan (51): cities with some of their districts and counties. A city's own offices use its xx00 code.
CITIES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "510100",
        "成都市",
        (
            ("510104", "锦江区"),
            ("510105", "青羊区"),
            ("510106", "金牛区"),
            ("510107", "武侯区"),
            ("510108", "成华区"),
            ("510112", "龙泉驿区"),
            ("510116", "双流区"),
            ("510121", "金堂县"),
        ),
    ),
    (
        "511700",
        "达州市",
        (
            ("511702", "通川区"),
            ("511703", "达川区"),
            ("511722", "宣汉县"),
            ("511723", "开江县"),
            ("511724", "大竹县"),
            ("511725", "渠县"),
            ("511781", "万源市"),
        ),
    ),
    (
        "510700",
        "绵阳市",
        (("510703", "涪城区"), ("510704", "游仙区"), ("510705", "安州区"), ("510722", "三台县"), ("510781", "江油市")),
    ),
    (
        "511300",
        "南充市",
        (("511302", "顺庆区"), ("511303", "高坪区"), ("511304", "嘉陵区"), ("511321", "南部县"), ("511381", "阆中市")),
    ),
    ("510500", "泸州市", (("510502", "江阳区"), ("510503", "纳溪区"), ("510504", "龙马潭区"), ("510521", "泸县"))),
)

# Licensing departments every county has, by short code (the catalog names the provincial one: SC-<code>).
DEPARTMENTS: dict[str, str] = {
    "SCJG": "市场监督管理局",
    "ZRZY": "自然资源和规划局",
    "ZJ": "住房和城乡建设局",
    "FGW": "发展和改革局",
    "WJ": "卫生健康局",
    "JT": "交通运输局",
    "STHJ": "生态环境局",
    "WGL": "文化广播电视和旅游局",
    "GA": "公安局",
}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰文斌浩宇欣怡俊峰晨阳雪梅海燕丹"


@dataclass(frozen=True)
class Staff:
    """A staff member of an office: id, name, role and, for window staff, the window they serve."""

    staff_id: str
    name: str
    role: str  # window (窗口受理), reviewer (审核), approver (批准), head (负责人)
    window: int | None = None


@dataclass
class Office:
    """One licensing department of one county (or of a city's own level)."""

    department_id: str  # e.g. 511702-SCJG
    kind: str  # DEPARTMENTS key
    name: str
    region_code: str
    windows: list[list[Staff]] = field(default_factory=list)
    reviewers: list[Staff] = field(default_factory=list)
    approvers: list[Staff] = field(default_factory=list)
    head: Staff | None = None

    def window_staff(self, rnd: random.Random) -> Staff:
        """A staff member of a randomly chosen window."""
        return rnd.choice(rnd.choice(self.windows))

    def all_staff(self) -> list[Staff]:
        """Everyone in the office: window staff, reviewers, approvers and the head."""
        head = [self.head] if self.head else []
        return [s for w in self.windows for s in w] + self.reviewers + self.approvers + head


@dataclass
class County:
    """A county (县区) of the province: its region code, name, city, share of applications and offices by kind."""

    region_code: str
    name: str
    city: str
    weight: float  # share of the province's applications
    offices: dict[str, Office] = field(default_factory=dict)


@dataclass
class Province:
    """The simulated province: its code, name and counties."""

    code: str
    name: str
    counties: list[County]

    def office(self, region_code: str, kind: str) -> Office:
        """The office of department ``kind`` in the county ``region_code`` (KeyError for an unknown county)."""
        for c in self.counties:
            if c.region_code == region_code:
                return c.offices[kind]
        raise KeyError(region_code)

    def to_dict(self) -> dict[str, Any]:
        """The roster written as province.json: who works where, for dashboards and reading findings."""
        return {
            "code": self.code,
            "name": self.name,
            "counties": [
                {
                    "region_code": c.region_code,
                    "name": c.name,
                    "city": c.city,
                    "departments": [
                        {
                            "department_id": o.department_id,
                            "name": o.name,
                            "kind": o.kind,
                            "staff": [
                                {"staff_id": s.staff_id, "name": s.name, "role": s.role, "window": s.window}
                                for s in o.all_staff()
                            ],
                        }
                        for o in c.offices.values()
                    ],
                }
                for c in self.counties
            ],
        }


def build_province(seed: int, cities: int = 3, counties: int = 4) -> Province:
    """``cities`` cities (at most 5), each with its own level and up to ``counties`` counties, all staffed."""
    if not 1 <= cities <= len(CITIES):
        raise ValueError(f"cities must be 1..{len(CITIES)}")
    if counties < 0:
        raise ValueError("counties must be >= 0")
    rnd = random.Random(f"{seed}:province")
    out: list[County] = []
    for city_code, city_name, districts in CITIES[:cities]:
        # The city's own offices serve more than any one county; districts and counties share the rest.
        regions = [(city_code, city_name + "本级", 2.0)] + [(code, name, 1.0) for code, name in districts[:counties]]
        for code, name, weight in regions:
            county = County(code, name, city_name, weight)
            # The name a supervisor knows it by: 达州市公安局 (the city's own), 达州市通川区公安局 (a county's).
            where = city_name if code == city_code else city_name + name
            for kind, dept_name in DEPARTMENTS.items():
                county.offices[kind] = _staff_office(rnd, code, kind, f"{where}{dept_name}", big=weight > 1)
            out.append(county)
    return Province("510000", "四川省", out)


def _staff_office(rnd: random.Random, region: str, kind: str, name: str, big: bool) -> Office:
    dept = f"{region}-{kind}"
    office = Office(dept, kind, name, region)
    for w in range(1, rnd.randint(2, 3) + (1 if big else 0) + 1):
        office.windows.append(
            [Staff(f"{dept}-W{w}-{n:02d}", _name(rnd), "window", w) for n in range(1, rnd.randint(2, 3) + 1)]
        )
    office.reviewers = [Staff(f"{dept}-R{n:02d}", _name(rnd), "reviewer") for n in range(1, rnd.randint(2, 4) + 1)]
    office.approvers = [Staff(f"{dept}-A{n:02d}", _name(rnd), "approver") for n in range(1, rnd.randint(1, 2) + 1)]
    office.head = Staff(f"{dept}-HEAD", _name(rnd), "head")
    return office


def _name(rnd: random.Random) -> str:
    given = rnd.choice(_GIVEN) + (rnd.choice(_GIVEN) if rnd.random() < 0.7 else "")
    return rnd.choice(_SURNAMES) + given
