"""Wake the event runtime's relay and timer from any process: NOTIFY at commit.

The web workers write outbox rows and jobs; the process running the runtime LISTENs (see
webapp/events/notify.py). One notification per statement, delivered only if it commits.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION events_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_outbox_notify AFTER INSERT ON events_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_outbox();

CREATE FUNCTION events_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_jobs', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_job_notify AFTER INSERT OR UPDATE ON events_scheduledjob
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_jobs();
"""

DROP = """
DROP TRIGGER IF EXISTS events_job_notify ON events_scheduledjob;
DROP FUNCTION IF EXISTS events_notify_jobs();
DROP TRIGGER IF EXISTS events_outbox_notify ON events_outboxevent;
DROP FUNCTION IF EXISTS events_notify_outbox();
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
