"""A relevance set for memory search, written for this product: archived plans an engineering team
would have, and what someone types to find one of them again, with the plan they mean.

Queries are of three sorts, as people type them: the plan's own words ("rotate database
credentials"), other words for the same thing ("secret rotation for db"), and words of one of its
steps ("helm chart"). A query's expected plan is the one a teammate would point to.
"""

from __future__ import annotations

# (title, description, steps)
PLANS: list[tuple[str, str, list[str]]] = [
    (
        "Rotate the database credentials",
        "Quarterly rotation of the Postgres passwords",
        ["Generate new passwords in the vault", "Update the app config", "Revoke the old users"],
    ),
    (
        "Move the billing service to Kubernetes",
        "Leave the VMs behind",
        ["Write the Helm chart", "Set up the ingress", "Cut traffic over"],
    ),
    (
        "Auth service JWT rollout",
        "Replace session cookies with signed tokens",
        ["Design the token schema", "Add the refresh endpoint", "Roll out to mobile clients"],
    ),
    (
        "Onboard a new backend engineer",
        "First two weeks of a new hire",
        ["Order the laptop", "Grant repository access", "Pair on a first ticket"],
    ),
    (
        "Fix flaky CI tests",
        "The pipeline fails one run in five",
        ["Quarantine the unstable tests", "Add retries to the network fixtures", "Track the failure rate"],
    ),
    (
        "Postmortem: payments outage of March",
        "Checkout was down for 40 minutes",
        ["Write the timeline", "Find the root cause", "List the follow-up actions"],
    ),
    (
        "Upgrade Django to 5.2",
        "Stay on the LTS release",
        ["Read the release notes", "Fix deprecation warnings", "Run the test suite on the new version"],
    ),
    (
        "Set up on-call rotation",
        "Weekly pager duty for the platform team",
        ["Pick the paging tool", "Write the escalation policy", "Publish the schedule"],
    ),
    (
        "Migrate email sending to a new provider",
        "Our current SMTP vendor is shutting down",
        ["Verify the sending domain", "Switch the transactional templates", "Watch the bounce rate"],
    ),
    (
        "Add dark mode to the web app",
        "Users keep asking for it",
        ["Define the colour tokens", "Theme the components", "Respect the system preference"],
    ),
    (
        "Reduce cloud costs",
        "The monthly bill grew 30% this quarter",
        ["Find idle instances", "Buy reserved capacity", "Shrink the log retention"],
    ),
    (
        "GDPR data export",
        "Let users download everything we hold about them",
        ["List personal data tables", "Build the export job", "Email the download link"],
    ),
    (
        "Launch the public API v2",
        "Versioned endpoints for partners",
        ["Write the OpenAPI spec", "Add rate limiting", "Publish the developer docs"],
    ),
    (
        "Database backup and restore drill",
        "Prove we can recover from a lost primary",
        ["Take a snapshot", "Restore into a scratch cluster", "Time the recovery"],
    ),
    (
        "Improve search relevance",
        "Users cannot find their documents",
        ["Collect failing queries", "Tune the ranking weights", "Measure hit rate"],
    ),
    (
        "Hire a product designer",
        "Second designer for the growth team",
        ["Write the job description", "Screen portfolios", "Run the design challenge"],
    ),
    (
        "Security audit before SOC 2",
        "Auditors arrive in June",
        ["Inventory the access rights", "Enable MFA everywhere", "Collect evidence of reviews"],
    ),
    (
        "Mobile app release 3.0",
        "New navigation and offline mode",
        ["Freeze features", "Submit to the app stores", "Stage the rollout"],
    ),
    (
        "Split the monolith's reporting module",
        "Reports slow down the main app",
        ["Extract the reporting queries", "Stand up a read replica", "Route report traffic to it"],
    ),
    (
        "Write the quarterly roadmap",
        "Plan for Q3 with product and engineering",
        ["Collect team proposals", "Rank by impact", "Present to leadership"],
    ),
    (
        "Localise the app into German",
        "First market outside English",
        ["Extract the strings", "Hire translators", "Check date and number formats"],
    ),
    (
        "Set up error tracking",
        "We learn about crashes from customers",
        ["Choose an error tracking service", "Install the SDK", "Route alerts to the team channel"],
    ),
    (
        "Office move to the new building",
        "Lease ends in September",
        ["Book the movers", "Set up the network", "Label the desks"],
    ),
    (
        "Performance tuning of the checkout page",
        "Checkout takes 4 seconds to load",
        ["Profile the slow queries", "Cache the product data", "Lazy-load the images"],
    ),
    (
        "Accessibility review of the dashboard",
        "Screen reader users reported problems",
        ["Run an automated audit", "Fix keyboard navigation", "Add labels to the charts"],
    ),
    (
        "Customer churn analysis",
        "Why do small accounts leave after a month",
        ["Pull cancellation data", "Interview churned customers", "Report the top reasons"],
    ),
    (
        "Renew the TLS certificates",
        "The wildcard certificate expires next week",
        ["Request the new certificate", "Deploy it to the load balancers", "Check expiry monitoring"],
    ),
    (
        "Team offsite in Lisbon",
        "Two days of planning and fun",
        ["Book the venue", "Plan the agenda", "Arrange flights"],
    ),
    (
        "Feature flag system",
        "Ship dark and turn features on per customer",
        ["Pick a flag library", "Add the admin toggle", "Clean up stale flags"],
    ),
    (
        "Logging pipeline overhaul",
        "Logs arrive late and get lost",
        ["Switch to structured logs", "Ship them through a queue", "Set retention per service"],
    ),
    (
        "Password reset flow redesign",
        "Too many support tickets about locked accounts",
        ["Map the current flow", "Send magic links", "Add rate limits on attempts"],
    ),
    (
        "Data warehouse for analytics",
        "Analysts query production today",
        ["Choose the warehouse", "Build the nightly load", "Give analysts read access"],
    ),
    (
        "Dependency upgrade sprint",
        "Many libraries are years behind",
        ["List outdated packages", "Upgrade in small batches", "Watch the error rate after each"],
    ),
    (
        "Incident response runbook",
        "Nobody knows who does what when the site is down",
        ["Define severity levels", "Name an incident commander role", "Write the status page steps"],
    ),
    (
        "Kubernetes cluster upgrade",
        "The control plane version goes out of support",
        ["Upgrade the staging cluster", "Drain and replace the nodes", "Upgrade production"],
    ),
    (
        "Pricing page experiment",
        "Test annual plans shown first",
        ["Design the variant", "Set up the A/B test", "Read the conversion results"],
    ),
]

# (query, the title of the plan it should find first)
QUERIES: list[tuple[str, str]] = [
    # the plan's own words
    ("rotate database credentials", "Rotate the database credentials"),
    ("django upgrade", "Upgrade Django to 5.2"),
    ("dark mode", "Add dark mode to the web app"),
    ("tls certificates", "Renew the TLS certificates"),
    ("on-call rotation", "Set up on-call rotation"),
    ("flaky tests", "Fix flaky CI tests"),
    ("churn analysis", "Customer churn analysis"),
    ("feature flags", "Feature flag system"),
    # other words for the same thing
    ("secret rotation for db", "Rotate the database credentials"),
    ("k8s migration for billing", "Move the billing service to Kubernetes"),
    ("new employee first weeks", "Onboard a new backend engineer"),
    ("payment downtime review", "Postmortem: payments outage of March"),
    ("unstable pipeline", "Fix flaky CI tests"),
    ("switch smtp vendor", "Migrate email sending to a new provider"),
    ("lower the aws bill", "Reduce cloud costs"),
    ("let users download their personal data", "GDPR data export"),
    ("recover from a lost database", "Database backup and restore drill"),
    ("compliance audit preparation", "Security audit before SOC 2"),
    ("translate the product", "Localise the app into German"),
    ("crash reporting", "Set up error tracking"),
    ("slow checkout", "Performance tuning of the checkout page"),
    ("screen reader problems", "Accessibility review of the dashboard"),
    ("https certificate expiry", "Renew the TLS certificates"),
    ("gradual rollout toggles", "Feature flag system"),
    ("forgot password emails", "Password reset flow redesign"),
    ("analytics warehouse", "Data warehouse for analytics"),
    ("outdated libraries", "Dependency upgrade sprint"),
    ("what to do when the site is down", "Incident response runbook"),
    ("pager schedule", "Set up on-call rotation"),
    ("ab test annual plans", "Pricing page experiment"),
    # words of a step
    ("helm chart", "Move the billing service to Kubernetes"),
    ("refresh endpoint", "Auth service JWT rollout"),
    ("read replica", "Split the monolith's reporting module"),
    ("magic links", "Password reset flow redesign"),
    ("drain the nodes", "Kubernetes cluster upgrade"),
    ("book the venue", "Team offsite in Lisbon"),
]
