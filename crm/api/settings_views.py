"""Creating and revoking personal access tokens from Settings."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from crm.api import tokens
from crm.api.forms import TokenForm
from crm.contacts.forms import ConfirmForm
from crm.extensions import db

bp = Blueprint("api_tokens", __name__, url_prefix="/settings/tokens")


@bp.before_request
@login_required
def _require_login():
    """Only a logged-in user manages their tokens."""


@bp.post("")
def create():
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return render_template("api/token_form.html", form=form), 422
    token, plain = tokens.create_token(current_user, form.name.data)
    db.session.commit()
    # Shown once, in this response only: it is not in a flash, a URL or the session.
    response = render_template("api/token_created.html", token=token, plain=plain)
    return response, 201, {"Cache-Control": "no-store"}


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    token = tokens.get_token_or_404(current_user, token_id)
    if ConfirmForm().validate_on_submit():
        tokens.revoke_token(token)
        db.session.commit()
        flash(f"The token “{token.name}” no longer works.", "success")
    return redirect(url_for("auth.settings") + "#api-tokens")
