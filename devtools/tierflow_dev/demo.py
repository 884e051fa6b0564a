"""Realistic demo service requests from counties all over the mainland.

Half come from counties with a named county institution (the Zhejiang and Jiangsu demo
network, where the demo caseworkers sit); the rest from a province picked uniformly, then one
of its counties, so traffic spreads over every province rather than the largest ones.

Everything derives from one seeded ``random.Random``, so ``demo_requests(n, seed)`` returns the
same requests every time: useful for load tests, the console demo and test data.
"""

from __future__ import annotations

import random

from schemas.divisions import DIVISION_INFO
from schemas.domain import Category, Grade, Priority, SizeClass
from schemas.enterprise import USCC_ALPHABET, Enterprise, uscc_check_character
from schemas.request import RequestInput
from tierflow.directory import Directory

_BRANDS = "云帆 星河 恒立 博远 致新 瑞丰 精工 海纳 启明 卓越 华创 天工 睿思 青禾 鼎盛 远航".split()
_TRADES = (
    "智能科技 精密机械 新材料 电子科技 生物医药 纺织 汽车零部件 软件 食品 环保科技 "
    "光电 模具 跨境电子商务 数控设备"
).split()
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟 芳 娜 敏 静 磊 洋 勇 艳 杰 军 涛 明 超 婷 浩 晨 宇 欣 佳".split()
_CHANNELS = ["portal", "portal", "portal", "hotline", "crm", "financing-platform"]

_SUBJECTS: dict[Category, list[str]] = {
    Category.FINANCING: [
        "申请科技型中小企业信用贷款对接",
        "寻求股权融资及投资路演机会",
        "咨询知识产权质押融资办理流程",
    ],
    Category.DIGITAL_TRANSFORMATION: [
        "生产线数字化改造方案咨询",
        "申请中小企业数字化转型试点城市项目",
        "寻求工业互联网平台上云服务商推荐",
    ],
    Category.TECHNOLOGY_TRANSFER: [
        "对接高校实验室专利成果转化",
        "寻求大企业技术开放与配套合作",
    ],
    Category.TALENT: ["招聘高级工艺工程师的人才政策咨询", "申请企业技能人才培训补贴"],
    Category.OVERSEAS_EXPANSION: [
        "咨询中外中小企业合作区入驻条件",
        "出口产品海外认证与展会对接",
    ],
    Category.CERTIFICATION: [
        "申报专精特新中小企业认定",
        "咨询专精特新“小巨人”企业复核要求",
        "创新型中小企业评价材料准备",
    ],
    Category.POLICY_CONSULTATION: ["咨询小微企业税费减免政策", "了解研发费用加计扣除适用范围"],
    Category.OTHER: ["厂房租赁纠纷调解求助", "企业用电报装进度协调"],
}

_WEIGHTS_CATEGORY = [20, 15, 10, 8, 8, 14, 18, 7]
_WEIGHTS_PRIORITY = [15, 55, 22, 8]
_WEIGHTS_GRADE = [50, 25, 18, 7]


def organization_code(rng: random.Random) -> str:
    """Return a 9-character organization code (GB 11714: 8 digits and a check character)."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    total = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(division_code: str, rng: random.Random) -> str:
    """Return a valid USCC of an enterprise (``91``) registered in ``division_code``."""
    first17 = "91" + division_code + organization_code(rng)
    assert all(c in USCC_ALPHABET for c in first17)
    return first17 + uscc_check_character(first17)


def demo_requests(n: int, seed: int = 0, directory: Directory | None = None) -> list[RequestInput]:
    """Return ``n`` reproducible requests from enterprises in the directory's counties."""
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    rng = random.Random(seed)
    directory = directory or Directory.load()
    counties = [d.code for d in directory.counties()]
    if not counties:
        raise ValueError("the directory lists no county divisions to place enterprises in")
    named = (
        sorted({e.division_code for e in directory.entries if not e.generated} & set(counties))
        or counties
    )
    by_province: dict[str, list[str]] = {}
    for code in counties:
        by_province.setdefault(code[:2], []).append(code)
    provinces = sorted(by_province)

    def pick() -> str:
        if rng.random() < 0.5:
            return named[rng.randrange(len(named))]
        within = by_province[provinces[rng.randrange(len(provinces))]]
        return within[rng.randrange(len(within))]

    return [_one(i, seed, rng, directory, pick()) for i in range(n)]


def _place(county: str) -> str:
    """Return the short place name an enterprise name starts with (city, or province)."""
    info = DIVISION_INFO.get(county)
    city = DIVISION_INFO.get(info.parent or "") if info else None
    if city is None:
        return ""
    if city.kind == "省直辖":  # municipalities and counties directly under a province
        city = DIVISION_INFO[county[:2] + "0000"]
    return city.name.removesuffix("市")


def _one(i: int, seed: int, rng: random.Random, directory: Directory, county: str) -> RequestInput:
    city = _place(county)
    category = rng.choices(list(Category), _WEIGHTS_CATEGORY)[0]
    grade = rng.choices(list(Grade), _WEIGHTS_GRADE)[0]
    name = f"{city}{rng.choice(_BRANDS)}{rng.choice(_TRADES)}有限公司"
    contact = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(["", *_GIVEN])
    subject = rng.choice(_SUBJECTS[category])
    enterprise = Enterprise(
        uscc=make_uscc(county, rng),
        name=name,
        division_code=county,
        size_class=rng.choice(list(SizeClass)),
        grade=grade,
        contact_name=contact,
        contact_phone="1"
        + rng.choice("3589")
        + "".join(rng.choice("0123456789") for _ in range(9)),
        contact_email=f"contact{seed}x{i}@example.com",
    )
    return RequestInput(
        request_id=f"demo-{seed}-{i:05d}",
        enterprise=enterprise,
        category=category,
        priority=rng.choices(list(Priority), _WEIGHTS_PRIORITY)[0],
        subject=subject,
        description=f"{name}（{directory.division_name(county)}）：{subject}。请协助办理。",
        channel=rng.choice(_CHANNELS),
    )
