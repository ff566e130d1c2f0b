"""The tags page: every tag with its contacts counted, to rename, merge and delete."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.extensions import db
from crm.models import Tag
from crm.tags import services
from crm.tags.forms import DeleteTagForm, TagForm

bp = Blueprint("tags", __name__, url_prefix="/tags")


@bp.before_request
@login_required
def _require_login():
    """Every tag page is for a logged-in user."""


@bp.errorhandler(404)
def _not_found(error):
    """A tag id that is none of the user's: deleted or merged since the page that links to
    it was shown (or someone else's, told apart by nothing)."""
    return render_template("tags/gone.html"), 404


@bp.get("")
def index():
    return render_template("tags/index.html", uses=services.tags_in_use(current_user))


def _render_edit(form: TagForm, tag: Tag):
    return render_template("tags/edit.html", form=form, tag=tag), form.status


def _stale(form: TagForm, message: str) -> None:
    """Send the form back (409): it was shown before a change it did not show."""
    form.form_errors.append(message)
    form.conflicts.append("merge_into")


@bp.route("/<int:tag_id>/edit", methods=["GET", "POST"])
def edit(tag_id: int):
    tag = services.get_own_tag_or_404(current_user, tag_id)
    form = TagForm()
    if request.method == "GET":
        form.show({"name": tag.name})
        return _render_edit(form, tag)
    if not form.validate_edit({"name": tag.name}):
        return _render_edit(form, tag)
    if form.name.data == tag.name and form.merge_into.data is None:
        flash("Nothing to change: the tag has that name.", "info")
        return redirect(url_for(".index"))
    try:
        name = services.tag_name(form.name.data)
    except services.TagNameInvalid as exc:
        form.name.errors.append(str(exc))
        return _render_edit(form, tag)
    into = services.namesake(current_user, tag, name)
    if into is not None:
        return _merge(form, tag, into, name)
    if form.merge_into.data is not None:
        _stale(form, "The tag this would have merged into has been renamed or deleted since "
                     f"you confirmed. Saving now renames {tag.name} to “{name}” and merges "
                     "nothing: save again to do that.")
        form.merge_into.data = None
        return _render_edit(form, tag)
    old = tag.name
    services.rename_tag(current_user, tag, name)
    db.session.commit()
    flash(f"{old} renamed to {name}.", "success")
    return redirect(url_for(".index"))


def _merge(form: TagForm, tag: Tag, into: Tag, name: str):
    """Renaming tag to the name of `into`: confirm the merge (what moves, which default
    cadence stays), then merge."""
    shown = f"{tag.keep_in_touch_days or ''}/{into.keep_in_touch_days or ''}"
    cadences = services.merge_cadences(tag, into)
    choose = len(cadences) == 2
    form.keep_cadence.choices = [
        ("merged", f"Every {tag.keep_in_touch_days} days, {tag.name}’s"),
        ("into", f"Every {into.keep_in_touch_days} days, {into.name}’s"),
    ] if choose else []
    confirmed = form.merge_into.data == into.id
    if confirmed and form.cadences_shown.data != shown:
        _stale(form, "A default cadence of these tags has changed since this page was "
                     "shown: check what the merge keeps and confirm again.")
        confirmed = False
    elif form.merge_into.data is not None and not confirmed:
        _stale(form, f"“{name}” is now another tag’s name than when this page was shown: "
                     "check what the merge does and confirm again.")
    if confirmed and choose and form.keep_cadence.data not in ("merged", "into"):
        form.keep_cadence.errors.append("Choose the default cadence the merged tag keeps.")
    elif confirmed:
        merged = tag.name
        days = (tag if form.keep_cadence.data == "merged" else into).keep_in_touch_days \
            if choose else next(iter(cadences), None)
        services.merge_tags(current_user, tag, into, name, days)
        db.session.commit()
        flash(f"{merged} merged into {name}: every contact that carried it carries "
              f"{name}.", "success")
        return redirect(url_for(".index"))
    form.merge_into.data, form.cadences_shown.data = into.id, shown
    return render_template(
        "tags/merge.html", form=form, tag=tag, into=into, name=name, choose=choose,
        impact=services.merge_impact(tag, into),
    ), form.status


@bp.route("/<int:tag_id>/delete", methods=["GET", "POST"])
def delete(tag_id: int):
    tag = services.get_own_tag_or_404(current_user, tag_id)
    use = services.tag_use(current_user, tag)
    form = DeleteTagForm()
    # What the page says the deletion does: a tag merged into this one since (more
    # contacts, a cadence) is not deleted on the word of a page that did not say so.
    impact = f"{use.active}/{use.archived}/{tag.keep_in_touch_days or ''}"
    if form.validate_on_submit():
        if form.name_shown.data != tag.name:
            form.form_errors.append(f"This tag has been renamed to “{tag.name}” since this "
                                    "page was shown: check and delete it again.")
        elif form.impact_shown.data != impact:
            form.form_errors.append("This tag has changed since this page was shown (another "
                                    "tag merged into it, contacts tagged or untagged, or its "
                                    "cadence): check what deleting it does now, and delete "
                                    "it again.")
        else:
            name, carriers = tag.name, use.active + use.archived
            services.delete_tag(current_user, tag)
            db.session.commit()
            flash(f"{name} deleted: {carriers} contact{'' if carriers == 1 else 's'} lost "
                  "it, and no contact was deleted.", "success")
            return redirect(url_for(".index"))
    form.name_shown.data, form.impact_shown.data = tag.name, impact
    return render_template("tags/delete.html", form=form, tag=tag, use=use), (
        409 if form.form_errors else 200)
