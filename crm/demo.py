"""A realistic small network to explore Rapport with (`crm demo`)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from crm.contacts.channels import normalise_channel
from crm.contacts.services import ContactData, add_channel, contacts_for, create_contact
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.mediums.services import mediums_for
from crm.models import BUILTIN_MEDIUMS, Contact, Initiator, Medium, User, utcnow
from crm.timezones import local_to_utc, zone

HORIZON_DAYS = 730  # interactions cover the last two years
INTERACTION_COUNT = 200
SECOND_PARTICIPANT_SHARE = 0.08


class DemoRefused(Exception):
    """The demo network cannot be loaded for this user; the message says why."""


@dataclass(frozen=True)
class DemoPerson:
    """One contact of the demo network, as plain data."""

    key: str
    name: str
    company: str
    title: str
    location: str
    time_zone: str
    tags: tuple[str, ...]
    origin: str  # medium key of "first met on"
    met_days_ago: int
    # (medium key, handle as a person would type it, label); normalised on load.
    channels: tuple[tuple[str, str, str], ...]
    # Mediums the relationship runs on; a repeated key is used more often.
    mediums: tuple[str, ...]
    topics: tuple[str, ...]
    closeness: int = 3  # relative share of the interactions
    introduced_by: str | None = None
    keep_in_touch_days: int | None = None
    quiet_days: int = 0  # no interaction in the last quiet_days (a relationship gone quiet)
    notes: str = ""
    is_private: bool = False
    origin_note: str = ""
    called: str = ""  # what summaries call them, when not the first word of the name

    @property
    def short_name(self) -> str:
        return self.called or self.name.split()[0]


# Ordered so that every introducer comes before the people they introduced.
PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        key="jack",
        name="Jack Wilson",
        company="Ridgeway School",
        title="Physics teacher",
        location="Manchester, UK",
        time_zone="Europe/London",
        tags=("friend", "alumni"),
        origin="face_to_face",
        met_days_ago=5900,
        channels=(
            ("phone", "+44 20 7946 0958", "mobile"),
            ("text_message", "+44 20 7946 0958", ""),
            ("email", "jack.wilson@ridgeway-school.example", "work"),
            ("facebook", "facebook.com/jack.wilson.mcr", ""),
        ),
        mediums=("text_message", "text_message", "phone", "phone", "face_to_face", "facebook"),
        topics=(
            "the five-a-side league",
            "his school's robotics club",
            "the university reunion",
            "a hike in the Peak District",
        ),
        closeness=6,
        keep_in_touch_days=30,
        notes="Flatmate in second year at university. Two kids, Ellie and Sam.",
        origin_note="Halls of residence, first week of university",
    ),
    DemoPerson(
        key="ana",
        name="Ana Lucía Ramírez",
        company="Mercado Sur",
        title="Head of Product",
        location="Buenos Aires, Argentina",
        time_zone="America/Argentina/Buenos_Aires",
        tags=("product", "mentor"),
        origin="face_to_face",
        met_days_ago=1650,
        channels=(
            ("email", "ana.ramirez@mercadosur.example", "work"),
            ("linkedin", "linkedin.com/in/analuciaramirez", ""),
            ("twitter", "@anaramirez_pm", ""),
            ("text_message", "+54 9 11 2345 6789", "WhatsApp"),
        ),
        mediums=("video_call", "video_call", "email", "text_message", "twitter", "linkedin"),
        topics=(
            "pricing experiments",
            "the roadmap for next quarter",
            "the first PM hire",
            "the marketplace launch in Chile",
        ),
        closeness=6,
        keep_in_touch_days=45,
        notes="Mentor since the product leadership summit. Prefers calls on Friday mornings.",
        origin_note="Product leadership summit, Lisbon",
    ),
    DemoPerson(
        key="youssef",
        name="Youssef El Amrani",
        company="Atlas Ventures",
        title="Partner",
        location="Casablanca, Morocco",
        time_zone="Africa/Casablanca",
        tags=("investor",),
        origin="face_to_face",
        met_days_ago=1200,
        channels=(
            ("email", "youssef@atlas-ventures.example", "work"),
            ("phone", "+212 661 234567", "mobile"),
            ("linkedin", "https://www.linkedin.com/in/youssef-el-amrani/", ""),
        ),
        mediums=("email", "email", "phone", "video_call", "face_to_face", "linkedin"),
        topics=(
            "the seed round",
            "the quarterly investor update",
            "climate-tech deal flow",
            "board composition",
        ),
        closeness=4,
        keep_in_touch_days=60,
        notes="Invests in B2B software across North Africa and southern Europe.",
        origin_note="Demo day at the Casablanca tech week",
    ),
    DemoPerson(
        key="lena",
        name="Lena Fischer",
        company="Studio Nordlicht",
        title="Design Director",
        location="Berlin, Germany",
        time_zone="Europe/Berlin",
        tags=("design", "conference"),
        origin="face_to_face",
        met_days_ago=1400,
        channels=(
            ("email", "lena@nordlicht.example", "studio"),
            ("phone", "+49 151 23456789", "mobile"),
            ("skype", "lena.fischer.design", ""),
            ("linkedin", "de.linkedin.com/in/lenafischer", ""),
        ),
        mediums=("skype", "skype", "email", "video_call", "face_to_face", "phone"),
        topics=(
            "the design system audit",
            "accessibility reviews",
            "the onboarding redesign",
            "her Config talk",
        ),
        closeness=5,
        keep_in_touch_days=60,
        origin_note="Workshop partner at a design conference in Berlin",
    ),
    DemoPerson(
        key="kenji",
        name="Kenji Watanabe",
        company="Hoshi Robotics",
        title="Staff Software Engineer",
        location="Tokyo, Japan",
        time_zone="Asia/Tokyo",
        tags=("python", "robotics"),
        origin="twitter",
        met_days_ago=1100,
        channels=(
            ("twitter", "https://twitter.com/kenji_builds", ""),
            ("email", "kenji.watanabe@hoshi-robotics.example", "work"),
            ("skype", "live:kenji.watanabe", ""),
        ),
        mediums=("twitter", "twitter", "email", "skype", "video_call"),
        topics=(
            "async Python in robot control loops",
            "his PyCon JP talk",
            "the ROS 2 migration",
            "open-source maintainership",
        ),
        closeness=4,
        notes="Late evenings London time are mornings for him.",
    ),
    DemoPerson(
        key="priya",
        name="Priya Raghavan",
        company="Lattice Pay",
        title="VP Engineering",
        location="Bengaluru, India",
        time_zone="Asia/Kolkata",
        tags=("fintech", "hiring"),
        origin="email",
        met_days_ago=640,
        introduced_by="ana",
        channels=(
            ("email", "priya@latticepay.example", "work"),
            ("linkedin", "linkedin.com/in/priya-raghavan", ""),
            ("phone", "+91 98450 12345", "mobile"),
        ),
        mediums=("email", "video_call", "video_call", "linkedin", "phone"),
        topics=(
            "scaling the payments team",
            "on-call rotations",
            "engineering ladders",
            "the UPI integration",
        ),
        closeness=4,
        keep_in_touch_days=90,
    ),
    DemoPerson(
        key="amara",
        name="Amara Okafor",
        company="Kora Health",
        title="Founder & CEO",
        location="Lagos, Nigeria",
        time_zone="Africa/Lagos",
        tags=("founder", "health"),
        origin="linkedin",
        met_days_ago=980,
        channels=(
            ("linkedin", "https://www.linkedin.com/in/amaraokafor", ""),
            ("email", "amara@korahealth.example", "work"),
            ("text_message", "+234 803 123 4567", "WhatsApp"),
        ),
        mediums=("linkedin", "email", "video_call", "video_call", "text_message"),
        topics=(
            "the clinic scheduling pilots",
            "the pre-seed deck",
            "the CTO search",
            "telehealth regulation",
        ),
        closeness=4,
        keep_in_touch_days=60,
    ),
    DemoPerson(
        key="mateus",
        name="Mateus Oliveira",
        company="Caju Analytics",
        title="Senior Data Scientist",
        location="São Paulo, Brazil",
        time_zone="America/Sao_Paulo",
        tags=("data", "python"),
        origin="skype",
        met_days_ago=1500,
        channels=(
            ("skype", "mateus.oliveira.sp", ""),
            ("email", "mateus@caju-analytics.example", "work"),
            ("phone", "+55 11 91234 5678", "mobile"),
        ),
        mediums=("skype", "skype", "email", "video_call"),
        topics=("churn models", "the dbt migration", "forecasting with sparse data"),
        closeness=3,
        quiet_days=200,
        origin_note="Remote pairing session set up by a mutual friend",
    ),
    DemoPerson(
        key="siobhan",
        name="Siobhán Byrne",
        company="The Irish Ledger",
        title="Technology correspondent",
        location="Dublin, Ireland",
        time_zone="Europe/Dublin",
        tags=("press",),
        origin="twitter",
        met_days_ago=700,
        channels=(
            ("twitter", "@siobhanwrites", ""),
            ("email", "s.byrne@irishledger.example", "newsroom"),
            ("phone", "+353 87 123 4567", "mobile"),
        ),
        mediums=("twitter", "twitter", "email", "phone"),
        topics=(
            "her piece on remote work",
            "the data-protection story",
            "a quote for the startup roundup",
        ),
        closeness=2,
    ),
    DemoPerson(
        key="meiling",
        name="Mei-Ling Chen",
        company="Formosa Cloud",
        title="Head of Partnerships",
        location="Taipei, Taiwan",
        time_zone="Asia/Taipei",
        tags=("partnerships", "client"),
        origin="linkedin",
        met_days_ago=520,
        channels=(
            ("linkedin", "linkedin.com/in/meilingchen-tw", ""),
            ("email", "meiling.chen@formosacloud.example", "work"),
            ("phone", "+886 912 345 678", "mobile"),
        ),
        mediums=("email", "email", "video_call", "linkedin", "phone"),
        topics=("the reseller agreement", "APAC pricing", "the joint webinar"),
        closeness=3,
        keep_in_touch_days=90,
    ),
    DemoPerson(
        key="olivia",
        name="Olivia Thompson",
        company="Thompson Career Studio",
        title="Career coach",
        location="Toronto, Canada",
        time_zone="America/Toronto",
        tags=("mentor", "coaching"),
        origin="video_call",
        met_days_ago=420,
        channels=(
            ("email", "olivia@thompsoncareers.example", ""),
            ("video_call", "https://meet.jit.si/olivia-thompson-coaching", "coaching room"),
            ("phone", "+1 416 555 0199", "office"),
        ),
        mediums=("video_call", "video_call", "video_call", "email"),
        topics=("my networking goals", "the offer negotiation", "my 90-day plan"),
        closeness=4,
        keep_in_touch_days=30,
        origin_note="Intro session booked through her website",
    ),
    DemoPerson(
        key="rafael",
        name="Rafael Gómez",
        company="",
        title="Freelance photographer",
        location="Madrid, Spain",
        time_zone="Europe/Madrid",
        tags=("friend", "creative"),
        origin="facebook",
        met_days_ago=2100,
        channels=(
            ("facebook", "https://www.facebook.com/rafagomezfoto", ""),
            ("text_message", "+34 612 34 56 78", "WhatsApp"),
            ("email", "rafa@gomezfoto.example", ""),
        ),
        mediums=("facebook", "facebook", "text_message", "text_message", "face_to_face"),
        topics=(
            "his exhibition in Lavapiés",
            "headshots for the team page",
            "a weekend in Segovia",
        ),
        closeness=3,
        origin_note="Photography group on Facebook",
    ),
    DemoPerson(
        key="ingrid",
        name="Ingrid Johansson",
        company="Fjord Energy",
        title="CTO",
        location="Oslo, Norway",
        time_zone="Europe/Oslo",
        tags=("climate", "founder"),
        origin="phone",
        met_days_ago=600,
        introduced_by="youssef",
        channels=(
            ("phone", "+47 412 34 567", "mobile"),
            ("email", "ingrid@fjordenergy.example", "work"),
            ("linkedin", "linkedin.com/in/ingridjohansson", ""),
        ),
        mediums=("phone", "phone", "email", "video_call"),
        topics=("grid-balancing software", "their Series A", "the embedded engineering hires"),
        closeness=3,
        keep_in_touch_days=90,
    ),
    DemoPerson(
        key="tomasz",
        name="Tomasz Nowak",
        company="Vistula Labs",
        title="Engineering Manager",
        location="Kraków, Poland",
        time_zone="Europe/Warsaw",
        tags=("python", "hiring"),
        origin="face_to_face",
        met_days_ago=560,
        channels=(
            ("email", "tomasz.nowak@vistula-labs.example", "work"),
            ("linkedin", "linkedin.com/in/tomasznowak-krk", ""),
            ("twitter", "@tomasz_codes", ""),
            ("phone", "+48 512 345 678", "mobile"),
        ),
        mediums=("email", "linkedin", "twitter", "video_call", "face_to_face"),
        topics=("the Python meetup", "contract developers", "code review culture"),
        closeness=3,
        origin_note="Python meetup in Kraków",
    ),
    DemoPerson(
        key="aisha",
        name="Aisha Siddiqui",
        company="Crescent Apps",
        title="Senior Product Designer",
        location="Dubai, UAE",
        time_zone="Asia/Dubai",
        tags=("design",),
        origin="video_call",
        met_days_ago=380,
        introduced_by="lena",
        channels=(
            ("email", "aisha@crescentapps.example", "work"),
            ("phone", "+971 50 123 4567", "mobile"),
            ("text_message", "+971 50 123 4567", "WhatsApp"),
            ("linkedin", "linkedin.com/in/aisha-siddiqui-design", ""),
        ),
        mediums=("video_call", "email", "text_message", "linkedin"),
        topics=("right-to-left layouts", "her portfolio review", "usability testing in Arabic"),
        closeness=3,
    ),
    DemoPerson(
        key="daniel",
        name="Daniel Cohen",
        company="",
        title="Angel investor",
        location="Tel Aviv, Israel",
        time_zone="Asia/Jerusalem",
        tags=("investor",),
        origin="email",
        met_days_ago=330,
        introduced_by="youssef",
        channels=(("email", "daniel@cohen-angels.example", ""),),
        mediums=("email", "email", "phone", "video_call"),
        topics=("a possible angel cheque", "the cap table", "follow-on terms"),
        closeness=2,
        is_private=True,
        notes="Keep confidential until the round closes.",
    ),
    DemoPerson(
        key="sophie",
        name="Sophie Martin",
        company="TalentBridge",
        title="Senior Technical Recruiter",
        location="Paris, France",
        time_zone="Europe/Paris",
        tags=("hiring", "recruiter"),
        origin="linkedin",
        met_days_ago=800,
        channels=(
            ("linkedin", "fr.linkedin.com/in/sophie-martin-recrutement", ""),
            ("email", "sophie.martin@talentbridge.example", "work"),
            ("phone", "+33 6 12 34 56 78", "mobile"),
        ),
        mediums=("linkedin", "linkedin", "email", "phone"),
        topics=("the backend engineer search", "salary bands in Paris", "a candidate shortlist"),
        closeness=2,
        quiet_days=150,
    ),
    DemoPerson(
        key="liam",
        name="Liam O'Connor",
        company="Cloudline",
        title="Developer Advocate",
        location="San Francisco, USA",
        time_zone="America/Los_Angeles",
        tags=("devrel", "conference"),
        origin="twitter",
        met_days_ago=900,
        channels=(
            ("twitter", "x.com/liamoconnor_dev", ""),
            ("email", "liam@cloudline.example", "work"),
            ("phone", "+1 415 555 0132", "mobile"),
        ),
        mediums=("twitter", "twitter", "email", "video_call", "face_to_face"),
        topics=("the conference CFP", "their free-tier changes", "a joint livestream"),
        closeness=3,
    ),
    DemoPerson(
        key="thuha",
        name="Nguyễn Thu Hà",
        company="Saigon Tech Hub",
        title="Community Manager",
        location="Ho Chi Minh City, Vietnam",
        called="Thu Hà",
        time_zone="Asia/Ho_Chi_Minh",
        tags=("community",),
        origin="facebook",
        met_days_ago=450,
        channels=(
            ("facebook", "facebook.com/thuha.community", ""),
            ("email", "thuha@saigontechhub.example", "work"),
            ("phone", "+84 912 345 678", "mobile"),
        ),
        mediums=("facebook", "facebook", "email", "video_call"),
        topics=(
            "a remote talk for their members",
            "the hackathon judging panel",
            "community newsletters",
        ),
        closeness=2,
    ),
    DemoPerson(
        key="grace",
        name="Grace Mwangi",
        company="Savanna Logistics",
        title="Operations Director",
        location="Nairobi, Kenya",
        time_zone="Africa/Nairobi",
        tags=("operations", "client"),
        origin="text_message",
        met_days_ago=300,
        channels=(
            ("text_message", "+254 712 345678", "WhatsApp"),
            ("phone", "+254 712 345678", "mobile"),
            ("email", "grace.mwangi@savanna-logistics.example", "work"),
        ),
        mediums=("text_message", "text_message", "phone", "email", "video_call"),
        topics=("the route-planning pilot", "driver app feedback", "renewing the contract"),
        closeness=4,
        keep_in_touch_days=30,
        origin_note="A friend passed on her number after a logistics panel",
    ),
)

# Pairs who sometimes share an interaction (a three-way call, an intro thread).
CIRCLES: tuple[tuple[str, str, str], ...] = (
    ("ana", "priya", "product and engineering leadership"),
    ("youssef", "ingrid", "the Fjord Energy round"),
    ("youssef", "daniel", "co-investing in the seed round"),
    ("lena", "aisha", "the design mentoring programme"),
    ("kenji", "liam", "the robotics livestream"),
    ("tomasz", "sophie", "the backend hiring push"),
    ("amara", "grace", "logistics for the clinic pilots"),
)

# Summary templates per medium. A template whose wording says who reached out
# carries that; None lets the plan pick.
ME, THEM, MUTUAL = Initiator.ME, Initiator.THEM, Initiator.MUTUAL
Template = tuple[str, Initiator | None]

SUMMARIES: dict[str, tuple[Template, ...]] = {
    "face_to_face": (
        ("Coffee with {first}: {topic}", None),
        ("Lunch with {first}, mostly about {topic}", None),
        ("Ran into {first} at a meetup and talked about {topic}", MUTUAL),
        ("Dinner with {first}; caught up on {topic}", None),
        ("Went over to {first}'s office to go through {topic}", ME),
    ),
    "phone": (
        ("Quick call with {first} about {topic}", None),
        ("{first} rang to talk through {topic}", THEM),
        ("Phone catch-up with {first} on {topic}", None),
        ("Called {first} to ask about {topic}", ME),
    ),
    "skype": (
        ("Skype chat with {first} about {topic}", None),
        ("Skype call with {first}: {topic}", None),
        ("Screen-shared {topic} with {first} on Skype", ME),
    ),
    "twitter": (
        ("Replied to {first}'s thread on {topic}", ME),
        ("DMs with {first} about {topic}", None),
        ("{first} quoted my post on {topic}", THEM),
        ("Shared {first}'s write-up on {topic}", ME),
    ),
    "linkedin": (
        ("LinkedIn message to {first} about {topic}", ME),
        ("Congratulated {first} on a work anniversary", ME),
        ("{first} commented on my post about {topic}", THEM),
        ("{first} messaged me on LinkedIn about {topic}", THEM),
    ),
    "email": (
        ("Emailed {first} notes on {topic}", ME),
        ("Email thread with {first} about {topic}", None),
        ("{first} sent over a draft on {topic}", THEM),
        ("Sent {first} the article on {topic} I mentioned", ME),
    ),
    "facebook": (
        ("Messenger chat with {first} about {topic}", None),
        ("{first} wished me a happy birthday", THEM),
        ("Commented on {first}'s photos; talked about {topic}", ME),
    ),
    "text_message": (
        ("Texted {first} to confirm plans", ME),
        ("Texts with {first} about {topic}", None),
        ("{first} texted a question about {topic}", THEM),
        ("Sent {first} a good-luck message about {topic}", ME),
    ),
    "video_call": (
        ("Video call with {first} on {topic}", None),
        ("Monthly video call with {first}: {topic}", MUTUAL),
        ("Video call with {first} to plan next steps on {topic}", None),
        ("Walked {first} through {topic} over video", None),
    ),
}

GROUP_SUMMARIES: dict[str, Template] = {
    "face_to_face": ("Breakfast with {first} and {second}: {topic}", None),
    "phone": ("Three-way call with {first} and {second} about {topic}", None),
    "skype": ("Skype group call with {first} and {second}: {topic}", None),
    "twitter": ("Group DM with {first} and {second} about {topic}", None),
    "linkedin": ("LinkedIn group message with {first} and {second} on {topic}", None),
    "email": ("Email thread with {first} and {second} about {topic}", None),
    "facebook": ("Messenger group with {first} and {second} about {topic}", None),
    "text_message": ("Group text with {first} and {second} about {topic}", None),
    "video_call": ("Video call with {first} and {second} about {topic}", None),
}

ORIGIN_SUMMARIES: dict[str, Template] = {
    "face_to_face": ("Met {first} for the first time", MUTUAL),
    "phone": ("First call with {first}", None),
    "skype": ("First Skype call with {first}", None),
    "twitter": ("Started talking with {first} on Twitter", None),
    "linkedin": ("Connected with {first} on LinkedIn", None),
    "email": ("First emails with {first}", None),
    "facebook": ("Got talking with {first} on Facebook", None),
    "text_message": ("First texts with {first}", None),
    "video_call": ("First video call with {first}", None),
}

INTRODUCTION: Template = ("{first} introduced me to {second}: {topic}", THEM)

NOTES: tuple[str, ...] = (
    "Follow up with the slides on {topic}.",
    "They asked for an intro to someone who knows {topic}.",
    "Promised to send two or three links about {topic}.",
    "Good energy. Agreed to speak again next month.",
    "Mentioned they are travelling a lot this quarter.",
    "Send a short summary of what we agreed on {topic}.",
    "Asked how the team is doing; they are hiring again.",
)


@dataclass
class _Planned:
    medium_key: str
    occurred_at: datetime
    people: list[str]
    summary: str
    initiated_by: Initiator
    notes: str = ""
    is_private: bool = False


def load_demo(user: User, seed: int = 2010, *, now: datetime | None = None) -> dict[str, int]:
    """Load the demo network for user; add and flush only, the caller commits."""
    existing = db.session.scalar(select(func.count()).select_from(contacts_for(user).subquery()))
    if existing:
        raise DemoRefused(
            f"{user.email} already has {existing} contact{'s' if existing != 1 else ''}; "
            "the demo network loads only into an account without contacts."
        )
    mediums = {m.key: m for m in mediums_for(user) if m.owner_id is None and m.key}
    missing = [key for key in BUILTIN_MEDIUMS if key not in mediums]
    if missing:
        raise DemoRefused(
            f"built-in mediums missing ({', '.join(missing)}): run `crm db upgrade` first."
        )

    rng = random.Random(seed)
    now = now or utcnow()
    today = now.astimezone(zone(user.time_zone)).date()

    contacts, origin_dates = _create_contacts(user, mediums, rng, today)
    channels = sum(len(p.channels) for p in PEOPLE)
    plan = _plan_interactions(user, rng, today, origin_dates)
    for item in plan:
        if item.occurred_at >= now:  # every day planned is before today, so never
            raise RuntimeError(f"demo planned an interaction in the future: {item}")
        log_interaction(
            user,
            InteractionData(
                medium=mediums[item.medium_key],
                occurred_at=item.occurred_at,
                initiated_by=item.initiated_by,
                participants=[contacts[key] for key in item.people],
                summary=item.summary[:200],
                notes=item.notes,
                is_private=item.is_private,
            ),
        )
    return {
        "contacts": len(contacts),
        "interactions": len(plan),
        "channels": channels,
        "introductions": sum(1 for p in PEOPLE if p.introduced_by),
        "mediums": len({item.medium_key for item in plan}),
    }


def _create_contacts(
    user: User, mediums: dict[str, Medium], rng: random.Random, today: date
) -> tuple[dict[str, Contact], dict[str, date]]:
    contacts: dict[str, Contact] = {}
    origin_dates: dict[str, date] = {}
    for person in PEOPLE:
        met = today - timedelta(days=person.met_days_ago + rng.randint(-6, 6))
        if person.introduced_by:
            # An introduction happens after the introducer was met.
            met = max(met, origin_dates[person.introduced_by] + timedelta(days=30))
        origin_dates[person.key] = met
        notes = person.notes
        if person.origin_note:
            notes = f"{person.origin_note}.\n\n{notes}".strip()
        contact = create_contact(
            user,
            ContactData(
                name=person.name,
                company=person.company,
                title=person.title,
                location=person.location,
                time_zone=person.time_zone,
                notes=notes,
                tags=list(person.tags),
                origin_medium=mediums[person.origin],
                origin_date=met,
                introduced_by=contacts[person.introduced_by] if person.introduced_by else None,
                keep_in_touch_days=person.keep_in_touch_days,
                is_private=person.is_private,
            ),
        )
        for medium_key, raw, label in person.channels:
            medium = mediums[medium_key]
            add_channel(contact, medium, normalise_channel(medium, raw), label)
        contacts[person.key] = contact
    return contacts, origin_dates


def _plan_interactions(
    user: User, rng: random.Random, today: date, origin_dates: dict[str, date]
) -> list[_Planned]:
    people = {p.key: p for p in PEOPLE}
    horizon_start = today - timedelta(days=HORIZON_DAYS)
    plan: list[_Planned] = []
    used_slots: set[tuple[str, date]] = set()

    def window(person: DemoPerson) -> tuple[int, int]:
        """Days-ago range (inclusive) an interaction with person can fall in."""
        oldest = min(HORIZON_DAYS, (today - origin_dates[person.key]).days)
        newest = max(1, person.quiet_days)
        return newest, max(newest, oldest)

    def when(day: date) -> datetime:
        # Working-day-ish hours in the user's own zone; minutes vary.
        hour = rng.choice((8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20))
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(0, 60, 5))
        return local_to_utc(local, user.time_zone)

    def initiator() -> Initiator:
        return rng.choices((Initiator.ME, Initiator.THEM, Initiator.MUTUAL), (45, 38, 17))[0]

    def add(
        person: DemoPerson,
        medium_key: str,
        day: date,
        second: DemoPerson | None = None,
        template: Template | None = None,
        topic: str | None = None,
    ) -> None:
        topic = topic or rng.choice(person.topics)
        if template is None:
            template = GROUP_SUMMARIES[medium_key] if second else rng.choice(SUMMARIES[medium_key])
        wording, initiated_by = template
        text = wording.format(
            first=person.short_name, second=second.short_name if second else "", topic=topic
        )
        keys = [person.key] + ([second.key] if second else [])
        notes = rng.choice(NOTES).format(topic=topic) if rng.random() < 0.3 else ""
        plan.append(
            _Planned(
                medium_key=medium_key,
                occurred_at=when(day),
                people=keys,
                summary=text[0].upper() + text[1:],
                initiated_by=initiated_by or initiator(),
                notes=notes,
                is_private=any(people[k].is_private for k in keys),
            )
        )
        used_slots.add((person.key, day))

    def free_day(person: DemoPerson) -> date:
        newest, oldest = window(person)
        for _ in range(50):
            day = today - timedelta(days=rng.randint(newest, oldest))
            if (person.key, day) not in used_slots:
                return day
        return day

    # The first touch, for everyone met inside the two years. An introduction
    # is a thread with both the introducer and the new contact on it.
    for person in PEOPLE:
        met = origin_dates[person.key]
        if met < horizon_start or met >= today:
            continue
        if person.introduced_by:
            introducer = people[person.introduced_by]
            add(
                introducer,
                person.origin,
                met,
                second=person,
                template=INTRODUCTION,
                topic=rng.choice(person.topics),
            )
        else:
            add(person, person.origin, met, template=ORIGIN_SUMMARIES[person.origin])

    # Every medium is used at least once, by someone whose relationship runs on it.
    for medium_key in BUILTIN_MEDIUMS:
        if any(item.medium_key == medium_key for item in plan):
            continue
        candidates = [p for p in PEOPLE if medium_key in p.mediums]
        person = rng.choice(candidates)
        add(person, medium_key, free_day(person))

    # The rest: closer relationships get more touches; now and then a shared one.
    weights = [p.closeness for p in PEOPLE]
    while len(plan) < INTERACTION_COUNT:
        if rng.random() < SECOND_PARTICIPANT_SHARE:
            first_key, second_key, topic = rng.choice(CIRCLES)
            first, second = people[first_key], people[second_key]
            shared = set(first.mediums) & set(second.mediums)
            medium_key = rng.choice(sorted(shared))
            # Both must be known by then: the later of the two windows' oldest day.
            newest = max(window(first)[0], window(second)[0])
            oldest = min(window(first)[1], window(second)[1])
            if oldest < newest:
                continue
            day = today - timedelta(days=rng.randint(newest, oldest))
            add(first, medium_key, day, second=second, topic=topic)
            continue
        person = rng.choices(PEOPLE, weights)[0]
        add(person, rng.choice(person.mediums), free_day(person))

    plan.sort(key=lambda item: (item.occurred_at, item.people))
    return plan
