"""ISO 3166-1 alpha-2 country codes, for the `country` warning (SPEC 2: "ISO 3166 alpha-2, or INTL").

The 249 officially assigned codes of ISO 3166-1 (ISO 3166 Maintenance Agency), checked against the
iso-codes database as shipped in pycountry 26.2.16. Reserved and user-assigned codes (UK, EU, XK) are
not assigned.
"""

from __future__ import annotations

ASSIGNED = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI
FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN
IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE
YT ZA ZM ZW
""".split())

#: Codes in common use that ISO 3166-1 does not assign, with the assigned code meant.
COMMON_MISTAKES = {
    "UK": "GB",  # United Kingdom: ISO assigns GB (UK is exceptionally reserved)
    "EL": "GR",  # Greece in EU usage
}

#: What SPEC 2 accepts besides an assigned code: areas beyond national jurisdiction (the deep sea bed).
BEYOND_JURISDICTION = "INTL"


def is_known(code: str) -> bool:
    """An assigned ISO 3166-1 alpha-2 code, or INTL."""
    return code in ASSIGNED or code == BEYOND_JURISDICTION


def suggestion(code: str, used: list[str]) -> str | None:
    """The code probably meant by an unassigned `code`: a common mistake, the same letters swapped, or
    a code this scenario uses elsewhere that differs in one letter."""
    if code in COMMON_MISTAKES:
        return COMMON_MISTAKES[code]
    if len(code) == 2 and code[::-1] in ASSIGNED:
        return code[::-1]
    near = [c for c in dict.fromkeys(used) if is_known(c) and len(c) == len(code) == 2
            and sum(a != b for a, b in zip(c, code)) == 1]
    return near[0] if near else None
