"""The organisation file and the routing helpers BPMN unit expressions use."""
import pytest
from sqlalchemy import func, select

from engine.errors import InvalidInput
from engine.models import OrgUnit, RoleAssignment, User
from engine.org import Directory, load_file
from web.extensions import db


@pytest.fixture
def org(ctx):
    return Directory(db.session).helpers()


def test_demo_file_holds_langfang(ctx):
    counties = db.session.scalars(select(OrgUnit).where(OrgUnit.tier == "county", OrgUnit.kind == "government")).all()
    assert len(counties) == 10
    assert {"安次区人民政府", "大厂回族自治县人民政府", "三河市人民政府"} <= {c.name for c in counties}
    for county in counties:
        towns = db.session.scalar(select(func.count()).select_from(OrgUnit).where(
            OrgUnit.parent_id == county.id, OrgUnit.kind == "government"))
        assert towns >= 2
    roles = {r for (r,) in db.session.execute(select(RoleAssignment.role_code).distinct())}
    assert roles == {"handler", "legal_reviewer", "agency_head", "supervision_officer", "revisit_officer",
                     "invited_supervisor", "process_designer", "admin", "discipline_inspector", "expert"}


def test_loading_twice_changes_nothing(ctx):
    before = (db.session.scalar(select(func.count()).select_from(OrgUnit)),
              db.session.scalar(select(func.count()).select_from(User)),
              db.session.scalar(select(func.count()).select_from(RoleAssignment)))
    result = ctx.test_cli_runner().invoke(args=["org", "load", ctx.config["DEMO_ORG_FILE"]])
    assert result.exit_code == 0, result.output
    after = (db.session.scalar(select(func.count()).select_from(OrgUnit)),
             db.session.scalar(select(func.count()).select_from(User)),
             db.session.scalar(select(func.count()).select_from(RoleAssignment)))
    assert before == after


def test_a_bad_file_is_refused(ctx, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("units:\n  - {code: x, name: X, tier: galaxy, kind: government}\n", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_file(db.session, str(bad))
    db.session.rollback()
    assert db.session.scalar(select(OrgUnit).where(OrgUnit.code == "x")) is None


def test_justice_bureau_above(org):
    assert org["justice_bureau_above"]("lf.guan.guanzhen.zfd") == "lf.guan.sfj"    # township team -> county
    assert org["justice_bureau_above"]("lf.guan.guanzhen") == "lf.guan.sfj"        # township government
    assert org["justice_bureau_above"]("lf.guan.guanzhen.sfs") == "lf.guan.sfj"    # 司法所 -> its county bureau
    assert org["justice_bureau_above"]("lf.guan.scjg") == "lf.guan.sfj"            # county department
    assert org["justice_bureau_above"]("lf.guan.sfj") == "lf.sfj"                  # county bureau -> city
    assert org["justice_bureau_above"]("lf.scjg") == "lf.sfj"                      # city department


def test_common_superior(org):
    assert org["common_superior"]("lf.guan.guanzhen.zfd", "lf.guan.scjg") == "lf.guan"   # same county
    assert org["common_superior"]("lf.guan.scjg", "lf.sanhe.scjg") == "lf"                # two counties
    assert org["common_superior"]("lf.guan.guanzhen.zfd", "lf.guan.liuquan.zfd") == "lf.guan"
    assert org["unit_of_kind"](org["common_superior"]("lf.guan.scjg", "lf.sanhe.scjg"), "justice_bureau") == "lf.sfj"


def test_a_township_is_served_by_its_justice_office_and_the_county_bureau(org):
    # same-township referral: team → its own township government, coordinated by the county bureau
    assert org["common_superior"]("lf.guan.guanzhen.zfd", "lf.guan.guanzhen") == "lf.guan.guanzhen"
    assert org["unit_of_kind"]("lf.guan.guanzhen", "justice_bureau") == "lf.guan.sfj"
    assert org["unit_of_kind"]("lf.guan.guanzhen.zfd", "police") == "lf.guan.gaj"
    directory = Directory(db.session)
    office = directory.justice_office_of(directory.unit("lf.guan.guanzhen.zfd"))
    assert office.code == "lf.guan.guanzhen.sfs" and office.parent.code == "lf.guan.sfj"
    assert directory.justice_office_of(directory.unit("lf.guan.scjg")) is None


def test_review_and_revisit_units(org):
    assert org["legal_review_unit"]("lf.guan.scjg") == "lf.guan.scjg"                 # its own reviewer
    assert org["legal_review_unit"]("lf.guan.guanzhen.zfd") == "lf.guan.guanzhen.sfs"  # the 司法所 of its township
    assert org["legal_review_unit"]("lf.guan.guanzhen") == "lf.guan.guanzhen.sfs"
    assert org["revisit_unit"]("lf.guan.scjg") == "lf.guan.scjg"                      # its own revisit officers
    assert org["revisit_unit"]("lf.guan.guanzhen.zfd") == "lf.guan.sfj"               # none: the bureau above
    assert org["revisit_unit"]("lf.sthj") == "lf.sfj"


def test_serving_an_unknown_unit_is_refused(ctx, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("units:\n  - {code: y, name: Y, tier: city, kind: government, children: "
                   "[{code: y.sfs, name: 所, kind: justice_office, serves: nowhere}]}\n", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_file(db.session, str(bad))
    db.session.rollback()
