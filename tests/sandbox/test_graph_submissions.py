"""Submissions: paging across pages, $expand=outcomes, single GETs and the student-side submit/unsubmit."""

from __future__ import annotations

import httpx

from sandbox.school import School
from tests.sandbox.conftest import BASE_URL, STUDENT_SCOPES, auth, submission_of, submission_url


async def test_top_10_pages_a_25_student_class_in_3_pages(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    url = f"/education/classes/{cls.id}/assignments/{essay.id}/submissions"
    page = (await graph.get(url, params={"$top": "10", "$expand": "outcomes"}, headers=auth(dana))).json()
    sizes = [len(page["value"])]
    ids = [s["id"] for s in page["value"]]
    while "@odata.nextLink" in page:
        link = page["@odata.nextLink"]
        assert link.startswith(f"{BASE_URL}/v1.0/education/classes/{cls.id}/assignments/{essay.id}/submissions?")
        assert "$skiptoken=" in link
        page = (await graph.get(link, headers=auth(dana))).json()
        sizes.append(len(page["value"]))
        ids += [s["id"] for s in page["value"]]
        assert all("outcomes" in s for s in page["value"])
    assert sizes == [10, 10, 5]
    assert len(set(ids)) == 25


async def test_bad_skiptoken_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    response = await graph.get(
        f"/education/classes/{cls.id}/assignments/{essay.id}/submissions",
        params={"$skiptoken": "not-a-token"},
        headers=auth(dana),
    )
    assert response.status_code == 400


async def test_expand_outcomes_shape(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    lab = school.assignment_named(cls.id, "Lab 3")
    url = f"/education/classes/{cls.id}/assignments/{lab.id}/submissions"
    body = (await graph.get(url, params={"$expand": "outcomes", "$top": "50"}, headers=auth(dana))).json()
    assert body["@odata.context"].endswith(f"assignments('{lab.id}')/submissions(outcomes())")
    first = body["value"][0]
    types = {o["@odata.type"] for o in first["outcomes"]}
    assert types == {
        "#microsoft.graph.educationFeedbackOutcome",
        "#microsoft.graph.educationPointsOutcome",
        "#microsoft.graph.educationRubricOutcome",
    }
    unset = next(o for o in first["outcomes"] if o["@odata.type"].endswith("PointsOutcome"))
    assert unset["points"] is None and unset["publishedPoints"] is None and unset["lastModifiedBy"] is None
    assert first["recipient"]["@odata.type"] == "#microsoft.graph.educationSubmissionIndividualRecipient"
    assert first["webUrl"].startswith("https://teams.microsoft.com/l/entity/")


async def test_get_submission_with_and_without_expand(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alexandra Petrova"))
    plain = (await graph.get(submission_url(cls, essay, sub), headers=auth(dana))).json()
    assert plain["@odata.context"].endswith("/submissions/$entity")
    assert "outcomes" not in plain
    assert plain["submittedBy"]["user"]["id"] == sub.userId
    assert plain["unsubmittedBy"] == {"application": None, "device": None, "user": {"id": None, "displayName": None}}
    expanded = (
        await graph.get(submission_url(cls, essay, sub), params={"$expand": "outcomes"}, headers=auth(dana))
    ).json()
    assert expanded["outcomes@odata.context"].endswith(f"submissions('{sub.id}')/outcomes")
    points = next(o for o in expanded["outcomes"] if o["@odata.type"].endswith("PointsOutcome"))
    assert points["points"]["points"] == 88
    assert points["publishedPoints"] is None


async def test_list_outcomes(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 1")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    body = (await graph.get(submission_url(cls, essay, sub) + "/outcomes", headers=auth(dana))).json()
    points = next(o for o in body["value"] if o["@odata.type"].endswith("PointsOutcome"))
    assert points["publishedPoints"]["points"] == points["points"]["points"]
    assert points["points"]["gradedBy"]["user"]["id"] == dana.id


async def test_unknown_submission_is_404(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    response = await graph.get(submission_url(cls, essay, "nope"), headers=auth(dana))
    assert response.status_code == 404


async def test_student_submit_and_unsubmit(graph: httpx.AsyncClient, school: School) -> None:
    luis = school.user_named("Luis de la Cruz")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, luis)
    assert sub.status == "working"
    submitted = await graph.post(submission_url(cls, essay, sub) + "/submit", headers=auth(luis, STUDENT_SCOPES))
    assert submitted.status_code == 200
    assert sub.status == "submitted" and sub.submittedBy == luis.id
    again = await graph.post(submission_url(cls, essay, sub) + "/submit", headers=auth(luis, STUDENT_SCOPES))
    assert again.status_code == 400
    undone = await graph.post(submission_url(cls, essay, sub) + "/unsubmit", headers=auth(luis, STUDENT_SCOPES))
    assert undone.status_code == 200
    assert sub.status == "working" and sub.unsubmittedBy == luis.id


async def test_only_the_owner_can_submit(graph: httpx.AsyncClient, school: School) -> None:
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Luis de la Cruz"))
    for other in (school.user_named("Dana Whitfield"), school.user_named("Alice Smith")):
        response = await graph.post(submission_url(cls, essay, sub) + "/submit", headers=auth(other))
        assert response.status_code == 403
    assert sub.status == "working"


async def test_filter_submissions_by_status_and_recipient(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    url = f"/education/classes/{cls.id}/assignments/{essay.id}/submissions"
    params = {"$filter": "status eq 'submitted'", "$count": "true", "$top": "50"}
    body = (await graph.get(url, params=params, headers=auth(dana))).json()
    assert {s["status"] for s in body["value"]} == {"submitted"}
    assert (
        body["@odata.count"]
        == len(body["value"])
        == sum(1 for s in school.submissions_of(essay.id) if s.status == "submitted")
    )
    alice = school.user_named("Alice Smith")
    mine = (await graph.get(url, params={"$filter": f"recipient/userId eq '{alice.id}'"}, headers=auth(dana))).json()
    assert [s["recipient"]["userId"] for s in mine["value"]] == [alice.id]
