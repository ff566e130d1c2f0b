"""Import (upload → preview → confirm), export, duplicates and merging, deleting an account."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from werkzeug.exceptions import RequestEntityTooLarge

from crm.auth.services import password_matches
from crm.contacts.forms import ConfirmForm
from crm.contacts.services import get_contact_or_404
from crm.extensions import db
from crm.mediums.services import mediums_for
from crm.models import ImportKind, ImportStatus, utcnow
from crm.params import record_id
from crm.portability import duplicates, exporter, services
from crm.portability.forms import (
    DeleteAccountForm,
    MergeForm,
    RunImportForm,
    UploadForm,
    human_size,
    import_max_bytes,
    mapping_form,
)
from crm.portability.importer import ImportRefused
from crm.portability.parsers import FileError
from crm.timezones import to_local

bp = Blueprint("portability", __name__)

PREVIEW_ROWS = 50


@bp.before_request
@login_required
def _require_login():
    """Every page here is for a logged-in user."""


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error):
    if request.endpoint == "portability.upload":
        form = UploadForm(formdata=None)
        form.file.errors = [
            f"That file is larger than Rapport accepts ({human_size(import_max_bytes())} "
            "for an import). Split it into smaller files and import each."
        ]
        return _render_upload(form, 413)
    return render_template("errors/error.html", code=413, title="Too large",
                           message="That upload is larger than Rapport accepts."), 413


# --- import --------------------------------------------------------------------------


def _render_upload(form: UploadForm, status: int = 200):
    return render_template(
        "portability/import.html",
        form=form,
        jobs=services.recent_jobs(current_user),
        max_size=human_size(import_max_bytes()),
    ), status


@bp.get("/import")
def upload_form():
    return _render_upload(UploadForm())


@bp.post("/import")
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        try:
            job = services.create_job(
                current_user, ImportKind(form.kind.data), form.file.data.filename,
                form.file.data.read(),
            )
        except FileError as exc:
            form.file.errors = [str(exc)]
        else:
            db.session.commit()
            return redirect(url_for("portability.preview", job_id=job.id))
    return _render_upload(form, 422)


@bp.get("/import/<int:job_id>")
def preview(job_id: int):
    job = services.get_job_or_404(current_user, job_id)
    if job.status != ImportStatus.PREVIEW:
        return render_template("portability/result.html", job=job,
                               result=services.result_of(job))
    return _render_preview(job)


def _render_preview(job, mapping=None, run_form=None, status: int = 200, refused=None):
    context = {"job": job, "run_form": run_form or RunImportForm(), "refused": refused,
               "confirm": ConfirmForm(), "preview_rows": PREVIEW_ROWS}
    if job.kind == ImportKind.CSV:
        header, sample = services.csv_preview(job)
        context["header"], context["sample"] = header, sample
        context["mapping"] = mapping or mapping_form(
            header, mediums_for(current_user), services.mapping_of(job))
        if mapping is not None and mapping.errors:
            return render_template("portability/preview.html", plan=None, **context), 422
    try:
        context["plan"] = services.plan_job(current_user, job)
    except FileError as exc:
        context["plan"], context["file_error"] = None, str(exc)
    return render_template("portability/preview.html", **context), status


@bp.post("/import/<int:job_id>/mapping")
def save_mapping(job_id: int):
    job = services.get_job_or_404(current_user, job_id)
    if job.kind != ImportKind.CSV or job.status != ImportStatus.PREVIEW:
        abort(404)
    header, _ = services.csv_preview(job)
    form = mapping_form(header, mediums_for(current_user), services.mapping_of(job))
    if not form.validate_on_submit():
        return _render_preview(job, mapping=form)
    services.set_mapping(job, {
        index: getattr(form, f"col_{index}").data for index in range(len(header))
    })
    db.session.commit()
    return redirect(url_for("portability.preview", job_id=job.id) + "#summary")


@bp.post("/import/<int:job_id>/run")
def run(job_id: int):
    job = services.get_job_or_404(current_user, job_id)
    if job.status != ImportStatus.PREVIEW:
        flash("That import has run already.", "info")
        return redirect(url_for("portability.preview", job_id=job.id))
    form = RunImportForm()
    if not form.validate_on_submit():
        return _render_preview(job, run_form=form, status=400)
    try:
        result = services.run_job(current_user, job, skip_invalid=form.skip_invalid.data)
    except ImportRefused as exc:
        db.session.rollback()
        job = services.get_job_or_404(current_user, job_id)
        return _render_preview(job, run_form=form, status=422, refused=exc.invalid)
    db.session.commit()
    flash(f"Imported: {result.created} new contact{'s' if result.created != 1 else ''}, "
          f"{result.updated} updated.", "success")
    return redirect(url_for("portability.preview", job_id=job.id))


@bp.post("/import/<int:job_id>/cancel")
def cancel(job_id: int):
    job = services.get_job_or_404(current_user, job_id)
    if job.status != ImportStatus.PREVIEW:
        # Confirmed meanwhile (another tab): its record says what it added; it stays.
        flash("That import has run already; nothing was cancelled.", "info")
        return redirect(url_for("portability.preview", job_id=job.id))
    if ConfirmForm().validate_on_submit():
        db.session.delete(job)
        db.session.commit()
        flash("Import cancelled; nothing was imported.", "info")
    return redirect(url_for("portability.upload_form"))


# --- export --------------------------------------------------------------------------


@bp.get("/export")
def export():
    return render_template("portability/export.html")


def _download(body: str, mimetype: str, stem: str, extension: str) -> Response:
    response = Response(body, mimetype=mimetype)
    today = to_local(utcnow(), current_user.time_zone)  # the user's date, not UTC's
    filename = f"{stem}-{today:%Y-%m-%d}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export/contacts.csv")
def export_csv():
    return _download(exporter.contacts_csv(current_user), "text/csv", "rapport-contacts", "csv")


@bp.get("/export/contacts.vcf")
def export_vcard():
    return _download(exporter.contacts_vcard(current_user), "text/vcard", "rapport-contacts",
                     "vcf")


@bp.get("/export/rapport.json")
def export_json():
    return _download("".join(exporter.export_json_chunks(current_user)), "application/json",
                     "rapport-export", "json")


# --- duplicates ----------------------------------------------------------------------


@bp.get("/duplicates")
def duplicates_index():
    pairs = duplicates.find_duplicates(current_user)
    return render_template("portability/duplicates.html", pairs=pairs)


@bp.route("/contacts/<int:contact_id>/merge", methods=["GET", "POST"])
def merge(contact_id: int):
    first = get_contact_or_404(current_user, contact_id)
    other_id = request.values.get("other", type=record_id)
    if other_id is None or other_id == first.id:
        abort(404)
    second = get_contact_or_404(current_user, other_id)
    form = MergeForm()
    form.keep.choices = [(str(first.id), first.name), (str(second.id), second.name)]
    if request.method == "GET":
        older = min((first, second), key=lambda c: (c.created_at, c.id))
        form.keep.data = str(older.id)
    if form.validate_on_submit():
        keep, drop = (first, second) if form.keep.data == str(first.id) else (second, first)
        dropped_name = drop.name
        duplicates.merge_contacts(current_user, keep, drop)
        db.session.commit()
        flash(f"Merged {dropped_name} into {keep.name}: nothing was lost.", "success")
        return redirect(url_for("contacts.show", contact_id=keep.id))
    from crm.contacts.services import deletion_impact  # counts of interactions per side

    return render_template(
        "portability/merge.html", form=form, first=first, second=second,
        impacts={c.id: deletion_impact(c) for c in (first, second)},
    ), 422 if form.errors else 200


# --- leaving -------------------------------------------------------------------------


@bp.route("/account/delete", methods=["GET", "POST"])
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if not password_matches(current_user, form.password.data):
            form.password.errors.append("That is not your password.")
        else:
            user = current_user._get_current_object()
            email = user.email
            logout_user()
            services.delete_account(user)
            db.session.commit()
            flash(f"The account {email} and everything in it has been deleted.", "info")
            return redirect(url_for("auth.login"))
    return render_template("portability/delete_account.html", form=form), (
        422 if form.errors else 200
    )
