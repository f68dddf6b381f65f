"""The grade form: pick an assignment and a student, type points and feedback, then [Save], [Save & return] or
[Reassign]. Only the form is built here; its buttons (`grade.save`, `grade.save_return`, `submission.reassign`) are
handled by the feedback/grade and reassign actions. The buttons carry the class id; the assignment and student come
from the form's pickers (`choice_assignment`, `choice_student`), which `parse_card_action` merges into the ids.

No card verb is handled here; the router calls `open_form`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot import messages
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.status import taught_class
from bot.cards.actions import CardAction, Verb
from bot.cards.views import MAX_FORM_CHOICES, Choice, GradeFormView
from bot.graph.ids import AssignmentId, ClassId, UserId
from bot.graph.models import Assignment, AssignmentStatus, EducationClass
from bot.roster import Resolved, is_credit_only, resolve_class
from bot.turn import Reply


def gradable(assignments: Sequence[Assignment]) -> list[Assignment]:
    """The assignments a form can grade: assigned and graded in points, latest due first (pure)."""
    chosen = [a for a in assignments if a.status is AssignmentStatus.ASSIGNED and not is_credit_only(a)]
    return sorted(
        chosen,
        key=lambda a: (a.due_date_time is not None, a.due_date_time or datetime.min, a.display_name),
        reverse=True,
    )


async def open_form(
    ctx: ActionContext,
    class_id: ClassId | None,
    *,
    class_hint: str | None = None,
    assignment_id: AssignmentId | None = None,
    student_id: UserId | None = None,
) -> Reply:
    """The grade form for one class.

    Args:
        ctx: the turn.
        class_id: the class (from a button: re-checked against the actor's taught classes); None → the channel's
            class, else the class named by `class_hint`, else the actor's only class.
        class_hint: the class as typed, when `class_id` is None.
        assignment_id: an assignment to preselect (ignored unless it is one the form offers).
        student_id: a student to preselect (ignored unless they are in the class).

    Returns:
        The form; or an error card: the actor does not teach the class, several classes and none named, no assigned
        work in points, or more students than a drop-down holds (the grading sheet is the way then).

    Raises:
        GraphError: reading the roster failed.
    """
    chosen = await _chosen_class(ctx, class_id, class_hint)
    if isinstance(chosen, Reply):
        return chosen
    roster = ctx.services.roster
    assignments = gradable(await roster.assignments(ctx.client, ctx.teacher_key, chosen.id))
    if not assignments:
        return error_card(ctx, messages.form_no_assignments(chosen.display_name))
    students = sorted(
        await roster.students(ctx.client, ctx.teacher_key, chosen.id),
        key=lambda s: ((s.display_name or "").casefold(), s.id),
    )
    if not students:
        return error_card(ctx, messages.form_no_students(chosen.display_name))
    if len(students) > MAX_FORM_CHOICES:
        return error_card(
            ctx,
            messages.form_too_many_students(chosen.display_name, len(students)),
            usage=messages.form_sheet_usage(assignments[0].display_name),
        )
    offered = assignments[:MAX_FORM_CHOICES]
    preselected = next((a for a in offered if a.id == assignment_id), offered[0] if len(offered) == 1 else None)
    maxima = {a.max_points for a in offered}
    view = GradeFormView(
        title=messages.form_title(chosen.display_name),
        assignments=[
            Choice(title=messages.form_assignment_choice(a.display_name or a.id, a.max_points), value=a.id)
            for a in offered
        ],
        assignment_id=preselected.id if preselected else None,
        students=[Choice(title=s.display_name or s.mail_nickname or s.id, value=s.id) for s in students],
        student_id=student_id if student_id in {s.id for s in students} else None,
        max_points=maxima.pop() if len(maxima) == 1 else None,  # else each choice shows its own maximum
        save_button=CardAction(verb=Verb.GRADE_SAVE, class_id=chosen.id),
        save_return_button=CardAction(verb=Verb.GRADE_SAVE_RETURN, class_id=chosen.id),
        reassign_button=CardAction(verb=Verb.SUBMISSION_REASSIGN, class_id=chosen.id),
    )
    return ctx.card(view)


async def _chosen_class(ctx: ActionContext, class_id: ClassId | None, class_hint: str | None) -> EducationClass | Reply:
    wanted = class_id or ctx.conversation.channel_class_id
    if wanted is not None:
        found = await taught_class(ctx, wanted)
        return found if found is not None else error_card(ctx, messages.only_teachers())
    classes = await ctx.services.roster.taught_classes(ctx.client, ctx.teacher_key)
    if not classes:
        return error_card(ctx, messages.only_teachers())
    resolved = resolve_class(classes, hint=class_hint, channel_class_id=None)
    if isinstance(resolved, Resolved):
        return resolved.value
    if class_hint:
        return error_card(ctx, messages.class_not_found())
    names = sorted((c.display_name or c.id for c in classes), key=str.casefold)
    return error_card(ctx, messages.form_which_class(names), next_step=messages.form_which_class_hint())
