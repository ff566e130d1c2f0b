"""The mediums page: the built-ins, and the user's own to add, rename and delete."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from crm.extensions import db
from crm.mediums import services
from crm.mediums.forms import DeleteMediumForm, MediumForm

bp = Blueprint("mediums", __name__, url_prefix="/mediums")


@bp.before_request
@login_required
def _require_login():
    """Every medium page is for a logged-in user."""


def _render_index(form: MediumForm, status: int = 200):
    mediums = services.mediums_for(current_user)
    return (
        render_template(
            "mediums/index.html",
            builtins=[m for m in mediums if m.is_builtin],
            own=[m for m in mediums if not m.is_builtin],
            form=form,
        ),
        status,
    )


@bp.route("", methods=["GET", "POST"])
def index():
    form = MediumForm()
    if form.validate_on_submit():
        try:
            medium = services.create_medium(current_user, form.name.data)
        except services.MediumNameTaken:
            form.name.errors.append("You already have a medium with that name.")
        except services.MediumNameInvalid as exc:
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{medium.name} added. Log interactions on it like any other medium.", "success")
            return redirect(url_for("mediums.index"))
    return _render_index(form, 422 if form.errors else 200)


@bp.route("/<int:medium_id>/edit", methods=["GET", "POST"])
def edit(medium_id: int):
    medium = services.get_own_medium_or_404(current_user, medium_id)
    form = MediumForm(obj=medium)
    if form.validate_on_submit():
        try:
            services.rename_medium(current_user, medium, form.name.data)
        except services.MediumNameTaken:
            form.name.errors.append("You already have a medium with that name.")
        except services.MediumNameInvalid as exc:
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Medium renamed.", "success")
            return redirect(url_for("mediums.index"))
    return render_template("mediums/edit.html", form=form, medium=medium), (
        422 if form.errors else 200
    )


@bp.route("/<int:medium_id>/delete", methods=["GET", "POST"])
def delete(medium_id: int):
    medium = services.get_own_medium_or_404(current_user, medium_id)
    usage = services.usage(medium)
    in_use = any(usage.values())
    form = DeleteMediumForm(in_use=in_use)
    others = [m for m in services.mediums_for(current_user) if m.id != medium.id]
    form.move_to.choices = [(None, "— Choose a medium —")] + [(m.id, m.name) for m in others]
    if form.validate_on_submit():
        target = next((m for m in others if m.id == form.move_to.data), None)
        try:
            services.delete_medium(current_user, medium, target if in_use else None)
        except services.HandlesDoNotFit as exc:
            shown = "; ".join(f"{name}: “{value}” ({why})" for name, value, why in exc.misfits[:5])
            more = f" and {len(exc.misfits) - 5} more" if len(exc.misfits) > 5 else ""
            form.move_to.errors.append(
                f"{len(exc.misfits)} handle{'' if len(exc.misfits) == 1 else 's'} on "
                f"{medium.name} {'is' if len(exc.misfits) == 1 else 'are'} not valid on "
                f"{exc.target.name}: {shown}{more}. Choose another medium, or fix them first.")
            return render_template("mediums/delete.html", form=form, medium=medium,
                                   usage=usage, in_use=in_use), 422
        db.session.commit()
        moved = f" Its interactions are now on {target.name}." if in_use and target else ""
        flash(f"{medium.name} deleted.{moved}", "success")
        return redirect(url_for("mediums.index"))
    return render_template(
        "mediums/delete.html", form=form, medium=medium, usage=usage, in_use=in_use
    ), (422 if form.errors else 200)
