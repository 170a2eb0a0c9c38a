from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="RateCounter",
            fields=[
                ("key", models.TextField(primary_key=True, serialize=False)),
                ("window_start", models.DateTimeField()),
                ("hits", models.PositiveIntegerField()),
                ("previous_hits", models.PositiveIntegerField()),
                ("allowed", models.BooleanField()),
                ("expires_at", models.DateTimeField()),
            ],
            options={
                "db_table": "ratelimit_counter",
            },
        ),
        # Counters lost in a crash only forgive a minute of requests; without the write-ahead
        # log the write every API request makes is cheaper. (Not replicated to standbys.)
        migrations.RunSQL(
            "ALTER TABLE ratelimit_counter SET UNLOGGED",
            "ALTER TABLE ratelimit_counter SET LOGGED",
        ),
    ]
