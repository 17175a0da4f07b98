"""The simulated province's organisation directory: departments with heads, staff with roles, bureaus."""

from __future__ import annotations

import random

from directory.model import Bureau, Department, Directory, Role, Staff
from sim.province import DEPARTMENTS, Province

_ROLES = {
    "window": [Role.window_clerk, Role.handler],
    "reviewer": [Role.reviewer],
    "approver": [Role.approver],
    "head": [Role.head],
}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
MAIL_DOMAIN = "sc-gov.example"  # a reserved domain (RFC 2606): simulated addresses can never reach a person


def build_directory(province: Province, seed: int) -> Directory:
    """Every office of the roster, its staff and head; provincial departments above the cities', cities' above
    their counties'; one supervision bureau per city (covering its counties) and one for the province."""
    rnd = random.Random(f"{seed}:directory")
    departments: list[Department] = []
    staff: list[Staff] = []
    bureaus: list[Bureau] = []

    def person(sid: str, name: str, dept: str, roles: list[Role]) -> Staff:
        return Staff(
            id=sid,
            name=name,
            department=dept,
            roles=roles,
            email=f"{sid.lower()}@{MAIL_DOMAIN}",
            mobile="13" + "".join(rnd.choice("0123456789") for _ in range(9)),
        )

    def bureau(bid: str, name: str, region: str) -> str:
        members = [person(f"{bid}-S{n:02d}", _name(rnd), bid, [Role.supervisor]) for n in (1, 2)]
        staff.extend(members)
        bureaus.append(Bureau(id=bid, name=name, region_code=region, staff=[m.id for m in members]))
        return bid

    prov_bureau = bureau(f"{province.code}-JC", f"{province.name}政务服务电子监察中心", province.code)
    for kind, dept_name in DEPARTMENTS.items():
        did = f"SC-{kind}"
        head = person(f"{did}-HEAD", _name(rnd), did, [Role.head])
        staff.append(head)
        departments.append(
            Department(
                id=did, name=f"{province.name}{dept_name}", region_code=province.code, head=head.id, bureau=prov_bureau
            )
        )
    city_bureaus: dict[str, str] = {}
    for county in province.counties:
        city_code = county.region_code[:4] + "00"
        if city_code not in city_bureaus:
            city_bureaus[city_code] = bureau(f"{city_code}-JC", f"{county.city}政务服务电子监察中心", city_code)
        for office in county.offices.values():
            parent = f"SC-{office.kind}" if county.region_code == city_code else f"{city_code}-{office.kind}"
            for s in office.all_staff():
                staff.append(person(s.staff_id, s.name, office.department_id, _ROLES[s.role]))
            departments.append(
                Department(
                    id=office.department_id,
                    name=office.name.replace("本级", ""),
                    region_code=office.region_code,
                    parent=parent,
                    head=office.head.staff_id if office.head else None,
                    bureau=city_bureaus[city_code],
                )
            )
    return Directory(version=f"sim-{seed}", departments=departments, staff=staff, bureaus=bureaus)


def _name(rnd: random.Random) -> str:
    return rnd.choice(_SURNAMES) + rnd.choice(_GIVEN) + (rnd.choice(_GIVEN) if rnd.random() < 0.7 else "")
