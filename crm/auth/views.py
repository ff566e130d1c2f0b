"""Register, log in, log out, settings."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from crm.api.forms import TokenForm
from crm.api.tokens import list_tokens
from crm.auth import confirmation, recovery, services
from crm.auth.forms import (
    EmailForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordForm,
    ProfileForm,
    RegisterForm,
    ReminderSettingsForm,
    ResetPasswordForm,
)
from crm.contacts.forms import ConfirmForm
from crm.extensions import db, limiter
from crm.models import AccountEmailKind
from crm.reminders.services import follow_time_zone, regenerate_calendar_token

bp = Blueprint("auth", __name__)


def _account_key() -> str:
    """Throttle key for login attempts on one account, whatever the IP."""
    return "account:" + services.normalise_email(request.form.get("email", ""))[:254]


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_IP"], methods=["POST"],
               error_message="Too many new accounts from your network. Try again later.")
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    if not services.registration_open():
        return render_template("auth/registration_closed.html"), (
            403 if request.method == "POST" else 200)
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.register_user(
                form.email.data, form.name.data, form.password.data, form.time_zone.data
            )
        except services.EmailTaken:
            form.email.errors.append("An account with this email exists already. Log in instead?")
        else:
            sent = recovery.queue_email(user, AccountEmailKind.CONFIRM_ADDRESS)
            db.session.commit()
            login_user(user)
            flash(f"Welcome to Rapport, {user.name}." + (
                f" To get reminder emails, open the link we sent to {user.email}."
                if sent else f" Reminder emails wait until {user.email} is confirmed; it has "
                "had all the links it may get today: ask for one in Settings tomorrow."
                if recovery.can_email() else ""), "success")
            target = form.next.data
            return redirect(target if services.is_safe_next(target) else url_for("contacts.index"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"],
               error_message="Too many login attempts from your network.")
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
               key_func=_account_key, error_message="Too many login attempts for this account.")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.AccountDeactivated:
            form.form_errors.append("This account is deactivated: its data is kept, but it "
                                    "cannot be used. Ask your Rapport administrator to "
                                    "activate it again.")
            return render_template("auth/login.html", form=form), 403
        if user is None:
            form.form_errors.append("That email and password do not match an account.")
        else:
            session.pop("csrf_token", None)  # a new CSRF token for the new session
            login_user(user, remember=form.remember.data)
            target = form.next.data
            return redirect(target if services.is_safe_next(target) else url_for("main.home"))
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


def _address_key() -> str:
    """Throttle key for reset emails to one address, whether it has an account or not."""
    return "reset:" + services.normalise_email(request.form.get("email", ""))[:254]


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_IP"], methods=["POST"],
               error_message="Too many password reset requests from your network. "
                             "Try again later.")
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_ADDRESS"], methods=["POST"],
               key_func=_address_key,
               error_message="Too many password reset emails for this address. Check the "
                             "inbox (and the spam folder) for the last one, or try again later.")
def forgot_password():
    # Open to a logged-in user too: logged in on one device, the password forgotten, they
    # cannot change it in Settings (which asks for the current one).
    if not recovery.can_email():
        return render_template("auth/forgot_password.html", form=None)
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = services.find_user_by_email(form.email.data)
        if user is not None and user.is_active:  # the worker sends it
            recovery.queue_email(user, AccountEmailKind.PASSWORD_RESET)
            db.session.commit()
        flash(f"If {services.normalise_email(form.email.data)} is the address of an account, "
              "an email with a link to choose a new password is on its way to it. The link "
              f"works once, for {current_app.config['PASSWORD_RESET_MAX_AGE_SECONDS'] // 60} "
              "minutes.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form), 422 if form.errors else 200


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        user = recovery.user_for_token(token)
    except recovery.ResetLinkSpent:
        return _no_store(render_template("auth/reset_link_spent.html"), 410)
    if user is None:
        abort(404)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.change_password(user, form.new_password.data)  # every session ends
        confirmation.mark_confirmed(user)  # the link reached the address
        recovery.queue_email(user, AccountEmailKind.PASSWORD_CHANGED)
        db.session.commit()
        logout_user()
        session.pop("csrf_token", None)
        login_user(user)
        flash("Your password is changed, and you are logged in. Any other sessions of your "
              "account have been logged out.", "success")
        return redirect(url_for("main.home"))
    return _no_store(render_template("auth/reset_password.html", form=form, user=user),
                     422 if form.errors else 200)


@bp.get("/confirm-address/<token>")
def confirm_address(token: str):
    """The link sent to an address: opening it confirms the address (logged in or not)."""
    try:
        user = confirmation.confirm(token)
    except confirmation.ConfirmLinkSpent:
        return _no_store(render_template("auth/confirm_link_spent.html"), 410)
    if user is None:
        abort(404)
    db.session.commit()
    return _no_store(render_template("auth/address_confirmed.html", user=user), 200)


def _no_store(body: str, status: int):
    """A page behind a secret link: not kept by the browser or a proxy."""
    return body, status, {"Cache-Control": "no-store"}


@bp.post("/logout")
@login_required
def logout():
    # Every cookie of this account stops working, a copied one too: logging out ends the
    # sessions on the server, not only in this browser.
    services.end_sessions(current_user)
    db.session.commit()
    logout_user()
    session.pop("csrf_token", None)
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    profile = ProfileForm(obj=current_user, prefix="profile")
    password = PasswordForm(prefix="password")
    email = EmailForm(prefix="email")
    reminders = ReminderSettingsForm(prefix="reminders")
    if request.form.get("action") != "reminders":  # shown as stored unless it was posted
        reminders.email_mode.data = services.email_mode(current_user)
        reminders.digest_hour.data = current_user.digest_hour
    status = 200
    if request.method == "POST" and request.form.get("action") == "profile":
        if profile.validate_on_submit():
            moved_zone = profile.time_zone.data != current_user.time_zone
            services.update_profile(
                current_user, name=profile.name.data, time_zone=profile.time_zone.data
            )
            moved = follow_time_zone(current_user) if moved_zone else 0
            db.session.commit()
            flash("Settings saved." + (
                f" {moved} pending reminder{'' if moved == 1 else 's'} now fall"
                f"{'s' if moved == 1 else ''} due at the same local time in "
                f"{current_user.time_zone.replace('_', ' ')}." if moved else ""), "success")
            return redirect(url_for("auth.settings"))
        status = 422
    elif request.method == "POST" and request.form.get("action") == "password":
        if password.validate_on_submit():
            if not services.password_matches(current_user, password.current_password.data):
                password.current_password.errors.append("That is not your current password.")
                status = 422
            else:
                services.change_password(current_user, password.new_password.data)
                recovery.queue_email(current_user, AccountEmailKind.PASSWORD_CHANGED)
                db.session.commit()
                # The session version changed: log this session in again, and renew its
                # "keep me logged in" cookie too (it names the old version), or the device
                # the password was changed on would be logged out when the browser restarts.
                remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
                # The user itself, not the proxy: Flask-Login keeps what it is given as the
                # request's user, and a proxy of itself would recurse.
                user = current_user._get_current_object()
                login_user(user, remember=remembered in request.cookies)
                flash("Password changed. Your other sessions have been logged out.", "success")
                return redirect(url_for("auth.settings"))
        else:
            status = 422
    elif request.method == "POST" and request.form.get("action") == "email":
        status = 422
        if email.validate_on_submit():
            old, was_confirmed = current_user.email, current_user.email_confirmed
            services.count_address_change(current_user)
            if services.normalise_email(email.email.data) == old:
                email.email.errors.append("That is your address already.")
            elif not services.password_matches(current_user, email.current_password.data):
                email.current_password.errors.append("That is not your current password.")
            else:
                try:
                    services.change_email(current_user, email.email.data)
                except services.EmailTaken:
                    email.email.errors.append("Another account has this address.")
                else:
                    if was_confirmed:  # told at the old address, if it was ever its owner's
                        recovery.queue_email(current_user, AccountEmailKind.ADDRESS_CHANGED,
                                             to=old)
                    sent = recovery.queue_email(current_user, AccountEmailKind.CONFIRM_ADDRESS)
                    db.session.commit()
                    flash(f"Your address is now {current_user.email}: you log in with it." + (
                        " Reminder emails go to it once you open the link we sent there."
                        if sent else " Reminder emails wait until it is confirmed; it has had "
                        "all the links it may get today, so open one sent before, or ask "
                        "for one in Settings tomorrow." if recovery.can_email() else ""),
                          "success")
                    return redirect(url_for("auth.settings"))
    elif request.method == "POST" and request.form.get("action") == "confirm":
        status = 400
        if ConfirmForm().validate_on_submit() and recovery.can_email():
            if current_user.email_confirmed:
                flash(f"{current_user.email} is confirmed already.", "info")
            else:
                services.count_confirm_link(current_user)
                if recovery.queue_email(current_user, AccountEmailKind.CONFIRM_ADDRESS):
                    db.session.commit()
                    flash(f"A link is on its way to {current_user.email}. Links sent "
                          "before it still work.", "success")
                else:
                    flash(f"{current_user.email} has been sent all the links it may get "
                          "today. Open one of them, or ask again tomorrow.", "error")
            return redirect(url_for("auth.settings"))
    elif request.method == "POST" and request.form.get("action") == "reminders":
        if reminders.validate_on_submit():
            services.update_reminder_settings(
                current_user,
                email_mode=reminders.email_mode.data,
                digest_hour=reminders.digest_hour.data,
            )
            db.session.commit()
            flash("Reminder settings saved.", "success")
            return redirect(url_for("auth.settings"))
        status = 422
    elif request.method == "POST" and request.form.get("action") == "calendar":
        if ConfirmForm().validate_on_submit():
            regenerate_calendar_token(current_user)
            db.session.commit()
            flash("New calendar link created; the old one no longer works.", "success")
            return redirect(url_for("auth.settings") + "#calendar")
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template(
        "auth/settings.html",
        profile=profile,
        password=password,
        email=email,
        reminders=reminders,
        confirm=ConfirmForm(),
        sends_email=recovery.can_email(),
        # API tokens, export, delete account (crm/api, crm/portability)
        api_tokens=list_tokens(current_user),
        token_form=TokenForm(prefix="token"),
    ), status
