<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>Alerts</name>
    <message>
        <source>critical</source>
        <translation>critical</translation>
    </message>
    <message>
        <source>warning</source>
        <translation>warning</translation>
    </message>
    <message>
        <source>GPU temperature high</source>
        <translation>GPU temperature high</translation>
    </message>
    <message>
        <source>GPU memory almost full</source>
        <translation>GPU memory almost full</translation>
    </message>
    <message>
        <source>Success ratio low</source>
        <translation>Success ratio low</translation>
    </message>
    <message>
        <source>Mean inter-token latency high</source>
        <translation>Mean inter-token latency high</translation>
    </message>
    <message>
        <source>Queue deep</source>
        <translation>Queue deep</translation>
    </message>
    <message>
        <source>Audit log cannot be written</source>
        <translation>Audit log cannot be written</translation>
    </message>
</context>
<context>
    <name>AuditClasses</name>
    <message>
        <source>sign-in and sessions</source>
        <translation>sign-in and sessions</translation>
    </message>
    <message>
        <source>users</source>
        <translation>users</translation>
    </message>
    <message>
        <source>API keys</source>
        <translation>API keys</translation>
    </message>
    <message>
        <source>models</source>
        <translation>models</translation>
    </message>
    <message>
        <source>configuration</source>
        <translation>configuration</translation>
    </message>
    <message>
        <source>inference</source>
        <translation>inference</translation>
    </message>
    <message>
        <source>audit log</source>
        <translation>audit log</translation>
    </message>
</context>
<context>
    <name>ConnectionProfile</name>
    <message>
        <source>Cannot read the certificate file %1: %2</source>
        <translation>Cannot read the certificate file %1: %2</translation>
    </message>
    <message>
        <source>A remote engine needs a CA certificate file or its pinned certificate: the console does not trust the system&apos;s CAs for it.</source>
        <translation>A remote engine needs a CA certificate file or its pinned certificate: the console does not trust the system&apos;s CAs for it.</translation>
    </message>
    <message>
        <source>%1 holds no PEM certificate.</source>
        <translation>%1 holds no PEM certificate.</translation>
    </message>
</context>
<context>
    <name>LoginDialog</name>
    <message>
        <source>Sign in</source>
        <translation>Sign in</translation>
    </message>
    <message>
        <source>Sign in to the engine with your account.</source>
        <translation>Sign in to the engine with your account.</translation>
    </message>
    <message>
        <source>User name:</source>
        <translation>User name:</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>Password:</translation>
    </message>
</context>
<context>
    <name>Roles</name>
    <message>
        <source>admin</source>
        <translation>admin</translation>
    </message>
    <message>
        <source>analyst</source>
        <translation>analyst</translation>
    </message>
    <message>
        <source>auditor</source>
        <translation>auditor</translation>
    </message>
    <message>
        <source>none</source>
        <translation>none</translation>
    </message>
    <message>
        <source>unlimited</source>
        <translation>unlimited</translation>
    </message>
    <message>
        <source>%1 req/min, %2 tokens/min, %3 streams</source>
        <translation>%1 req/min, %2 tokens/min, %3 streams</translation>
    </message>
</context>
<context>
    <name>enclave::app</name>
    <message>
        <source>Model: %1</source>
        <translation>Model: %1</translation>
    </message>
    <message>
        <source>User</source>
        <translation>User</translation>
    </message>
    <message>
        <source>System</source>
        <translation>System</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>Assistant</translation>
    </message>
    <message>
        <source>Reasoning</source>
        <translation>Reasoning</translation>
    </message>
</context>
<context>
    <name>enclave::app::AlertEventsModel</name>
    <message>
        <source>firing</source>
        <translation>firing</translation>
    </message>
    <message>
        <source>resolved</source>
        <translation>resolved</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Time</translation>
    </message>
    <message>
        <source>Rule</source>
        <translation>Rule</translation>
    </message>
    <message>
        <source>Severity</source>
        <translation>Severity</translation>
    </message>
    <message>
        <source>State</source>
        <translation>State</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Subject</translation>
    </message>
    <message>
        <source>Value</source>
        <translation>Value</translation>
    </message>
</context>
<context>
    <name>enclave::app::AlertRulesModel</name>
    <message>
        <source>on</source>
        <translation>on</translation>
    </message>
    <message>
        <source>off</source>
        <translation>off</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Name</translation>
    </message>
    <message>
        <source>Metric</source>
        <translation>Metric</translation>
    </message>
    <message>
        <source>Comparison</source>
        <translation>Comparison</translation>
    </message>
    <message>
        <source>Threshold</source>
        <translation>Threshold</translation>
    </message>
    <message>
        <source>For (s)</source>
        <translation>For (s)</translation>
    </message>
    <message>
        <source>Severity</source>
        <translation>Severity</translation>
    </message>
    <message>
        <source>Enabled</source>
        <translation>Enabled</translation>
    </message>
</context>
<context>
    <name>enclave::app::AuditModel</name>
    <message>
        <source>ok</source>
        <translation>ok</translation>
    </message>
    <message>
        <source>denied</source>
        <translation>denied</translation>
    </message>
    <message>
        <source>error</source>
        <translation>error</translation>
    </message>
    <message>
        <source>Seq</source>
        <translation>Seq</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Time</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>Actor</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>Role</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>Source</translation>
    </message>
    <message>
        <source>Class</source>
        <translation>Class</translation>
    </message>
    <message>
        <source>Action</source>
        <translation>Action</translation>
    </message>
    <message>
        <source>Target</source>
        <translation>Target</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Result</translation>
    </message>
</context>
<context>
    <name>enclave::app::ConversationsModel</name>
    <message>
        <source>(untitled)</source>
        <translation>(untitled)</translation>
    </message>
    <message>
        <source>Title</source>
        <translation>Title</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>Model</translation>
    </message>
    <message>
        <source>Messages</source>
        <translation>Messages</translation>
    </message>
    <message>
        <source>Updated</source>
        <translation>Updated</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineClient</name>
    <message>
        <source>not connected</source>
        <translation>not connected</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineError</name>
    <message>
        <source>the engine cannot be reached</source>
        <translation>the engine cannot be reached</translation>
    </message>
    <message>
        <source>this engine does not offer it yet</source>
        <translation>this engine does not offer it yet</translation>
    </message>
    <message>
        <source>the session is missing or has expired; please sign in</source>
        <translation>the session is missing or has expired; please sign in</translation>
    </message>
    <message>
        <source>your role may not do this</source>
        <translation>your role may not do this</translation>
    </message>
    <message>
        <source>the engine refused a value</source>
        <translation>the engine refused a value</translation>
    </message>
    <message>
        <source>not found</source>
        <translation>not found</translation>
    </message>
    <message>
        <source>it already exists</source>
        <translation>it already exists</translation>
    </message>
    <message>
        <source>the engine is busy or a limit was reached</source>
        <translation>the engine is busy or a limit was reached</translation>
    </message>
    <message>
        <source>the engine did not answer in time</source>
        <translation>the engine did not answer in time</translation>
    </message>
    <message>
        <source>not possible in the current state</source>
        <translation>not possible in the current state</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>cancelled</translation>
    </message>
    <message>
        <source>the engine reported an error</source>
        <translation>the engine reported an error</translation>
    </message>
    <message>
        <source>the engine&apos;s TLS certificate was refused: it is not signed by the trusted CA, is not the pinned certificate, or was not issued for this host name</source>
        <translation>the engine&apos;s TLS certificate was refused: it is not signed by the trusted CA, is not the pinned certificate, or was not issued for this host name</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation>%1: %2</translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation>%1 (%2)</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineProcess</name>
    <message>
        <source>Stopping the engine (SIGTERM).</source>
        <translation>Stopping the engine (SIGTERM).</translation>
    </message>
    <message>
        <source>This engine has no --%1 flag; the profile&apos;s setting (%2) is left out.</source>
        <translation>This engine has no --%1 flag; the profile&apos;s setting (%2) is left out.</translation>
    </message>
    <message>
        <source>The engine binary %1 does not exist or is not executable.</source>
        <translation>The engine binary %1 does not exist or is not executable.</translation>
    </message>
    <message>
        <source>%1 serve --help failed: %2</source>
        <translation>%1 serve --help failed: %2</translation>
    </message>
    <message>
        <source>Starting: %1 %2</source>
        <translation>Starting: %1 %2</translation>
    </message>
    <message>
        <source>The engine could not be started: %1</source>
        <translation>The engine could not be started: %1</translation>
    </message>
    <message>
        <source>The engine stopped.</source>
        <translation>The engine stopped.</translation>
    </message>
    <message>
        <source>the engine crashed or was killed</source>
        <translation>the engine crashed or was killed</translation>
    </message>
    <message>
        <source>the engine exited with code %1</source>
        <translation>the engine exited with code %1</translation>
    </message>
    <message>
        <source>The engine failed %1 times before becoming ready (%2); not restarting it. See the log.</source>
        <translation>The engine failed %1 times before becoming ready (%2); not restarting it. See the log.</translation>
    </message>
    <message>
        <source>Unexpected stop: %1. Restarting in %2 s.</source>
        <translation>Unexpected stop: %1. Restarting in %2 s.</translation>
    </message>
</context>
<context>
    <name>enclave::app::Event</name>
    <message>
        <source>not connected</source>
        <translation>not connected</translation>
    </message>
</context>
<context>
    <name>enclave::app::KeysModel</name>
    <message>
        <source>all</source>
        <translation>all</translation>
    </message>
    <message>
        <source>never</source>
        <translation>never</translation>
    </message>
    <message>
        <source>revoked</source>
        <translation>revoked</translation>
    </message>
    <message>
        <source>expired</source>
        <translation>expired</translation>
    </message>
    <message>
        <source>active</source>
        <translation>active</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Name</translation>
    </message>
    <message>
        <source>Key prefix</source>
        <translation>Key prefix</translation>
    </message>
    <message>
        <source>User id</source>
        <translation>User id</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>Role</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>Models</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>Created</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Expires</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
</context>
<context>
    <name>enclave::app::LoadedModelsModel</name>
    <message>
        <source>serving</source>
        <translation>serving</translation>
    </message>
    <message>
        <source>draining</source>
        <translation>draining</translation>
    </message>
    <message>
        <source>Served name</source>
        <translation>Served name</translation>
    </message>
    <message>
        <source>File</source>
        <translation>File</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>Architecture</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>Context</translation>
    </message>
    <message>
        <source>Backend</source>
        <translation>Backend</translation>
    </message>
    <message>
        <source>State</source>
        <translation>State</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>Running</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>Waiting</translation>
    </message>
</context>
<context>
    <name>enclave::app::ModelFilesModel</name>
    <message>
        <source>not loadable: %1</source>
        <translation>not loadable: %1</translation>
    </message>
    <message>
        <source>loaded</source>
        <translation>loaded</translation>
    </message>
    <message>
        <source>available</source>
        <translation>available</translation>
    </message>
    <message>
        <source>File</source>
        <translation>File</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>Architecture</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>Parameters</translation>
    </message>
    <message>
        <source>Size on disk</source>
        <translation>Size on disk</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>Context</translation>
    </message>
    <message>
        <source>Estimated memory</source>
        <translation>Estimated memory</translation>
    </message>
    <message>
        <source>Tensor types</source>
        <translation>Tensor types</translation>
    </message>
    <message>
        <source>Served as</source>
        <translation>Served as</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
</context>
<context>
    <name>enclave::app::RoutesModel</name>
    <message>
        <source>%1: weight %2 (%3 %)</source>
        <translation>%1: weight %2 (%3 %)</translation>
    </message>
    <message>
        <source>Public name</source>
        <translation>Public name</translation>
    </message>
    <message>
        <source>Targets and weights</source>
        <translation>Targets and weights</translation>
    </message>
</context>
<context>
    <name>enclave::app::UsersModel</name>
    <message>
        <source>disabled</source>
        <translation>disabled</translation>
    </message>
    <message>
        <source>locked until %1</source>
        <translation>locked until %1</translation>
    </message>
    <message>
        <source>active</source>
        <translation>active</translation>
    </message>
    <message>
        <source>never</source>
        <translation>never</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Name</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>Role</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>Created</translation>
    </message>
    <message>
        <source>Last sign-in</source>
        <translation>Last sign-in</translation>
    </message>
    <message>
        <source>Limits</source>
        <translation>Limits</translation>
    </message>
</context>
<context>
    <name>enclave::ui::AlertsPage</name>
    <message>
        <source>Alert rules</source>
        <translation>Alert rules</translation>
    </message>
    <message>
        <source>Double-click a cell to edit it, then save. A rule fires when the metric compared with the threshold holds for the given number of seconds.</source>
        <translation>Double-click a cell to edit it, then save. A rule fires when the metric compared with the threshold holds for the given number of seconds.</translation>
    </message>
    <message>
        <source>New rule…</source>
        <translation>New rule…</translation>
    </message>
    <message>
        <source>Delete rule</source>
        <translation>Delete rule</translation>
    </message>
    <message>
        <source>Discard changes</source>
        <translation>Discard changes</translation>
    </message>
    <message>
        <source>Save changes</source>
        <translation>Save changes</translation>
    </message>
    <message>
        <source>No changes to save.</source>
        <translation>No changes to save.</translation>
    </message>
    <message>
        <source>Saved the rule %1</source>
        <translation>Saved the rule %1</translation>
    </message>
    <message>
        <source>New alert rule</source>
        <translation>New alert rule</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>Name:</translation>
    </message>
    <message>
        <source>Metric:</source>
        <translation>Metric:</translation>
    </message>
    <message>
        <source>Comparison:</source>
        <translation>Comparison:</translation>
    </message>
    <message>
        <source>Threshold:</source>
        <translation>Threshold:</translation>
    </message>
    <message>
        <source>For (seconds):</source>
        <translation>For (seconds):</translation>
    </message>
    <message>
        <source>Severity:</source>
        <translation>Severity:</translation>
    </message>
    <message>
        <source>Alerts</source>
        <translation>Alerts</translation>
    </message>
    <message>
        <source>Select a rule to delete first.</source>
        <translation>Select a rule to delete first.</translation>
    </message>
</context>
<context>
    <name>enclave::ui::AuditPage</name>
    <message>
        <source>Filters</source>
        <translation>Filters</translation>
    </message>
    <message>
        <source>Time range</source>
        <translation>Time range</translation>
    </message>
    <message>
        <source>From:</source>
        <translation>From:</translation>
    </message>
    <message>
        <source>To:</source>
        <translation>To:</translation>
    </message>
    <message>
        <source>Actor:</source>
        <translation>Actor:</translation>
    </message>
    <message>
        <source>Action class:</source>
        <translation>Action class:</translation>
    </message>
    <message>
        <source>any</source>
        <translation>any</translation>
    </message>
    <message>
        <source>Result:</source>
        <translation>Result:</translation>
    </message>
    <message>
        <source>ok</source>
        <translation>ok</translation>
    </message>
    <message>
        <source>denied</source>
        <translation>denied</translation>
    </message>
    <message>
        <source>error</source>
        <translation>error</translation>
    </message>
    <message>
        <source>Text:</source>
        <translation>Text:</translation>
    </message>
    <message>
        <source>in target or details</source>
        <translation>in target or details</translation>
    </message>
    <message>
        <source>Search</source>
        <translation>Search</translation>
    </message>
    <message>
        <source>Load more</source>
        <translation>Load more</translation>
    </message>
    <message>
        <source>Verify chain</source>
        <translation>Verify chain</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>Export CSV…</translation>
    </message>
    <message>
        <source>Export JSON…</source>
        <translation>Export JSON…</translation>
    </message>
    <message>
        <source>Chain not verified yet</source>
        <translation>Chain not verified yet</translation>
    </message>
    <message>
        <source>%1 of %2 records</source>
        <translation>%1 of %2 records</translation>
    </message>
    <message>
        <source>%1 records</source>
        <translation>%1 records</translation>
    </message>
    <message>
        <source>Record %1 at %2 by %3 (%4) from %5
%6 %7 on %8: %9

Details:
%10

Previous hash: %11
Hash: %12</source>
        <translation>Record %1 at %2 by %3 (%4) from %5
%6 %7 on %8: %9

Details:
%10

Previous hash: %11
Hash: %12</translation>
    </message>
    <message>
        <source>Verifying…</source>
        <translation>Verifying…</translation>
    </message>
    <message>
        <source>Chain intact: %1 records verified</source>
        <translation>Chain intact: %1 records verified</translation>
    </message>
    <message>
        <source>Chain broken at record %1: %2</source>
        <translation>Chain broken at record %1: %2</translation>
    </message>
    <message>
        <source>Verification failed</source>
        <translation>Verification failed</translation>
    </message>
    <message>
        <source>Export audit records</source>
        <translation>Export audit records</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>CSV files (*.csv)</translation>
    </message>
    <message>
        <source>JSON files (*.json)</source>
        <translation>JSON files (*.json)</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>Could not write %1: %2</translation>
    </message>
    <message>
        <source>Exported the audit records to %1</source>
        <translation>Exported the audit records to %1</translation>
    </message>
    <message>
        <source>Audit log</source>
        <translation>Audit log</translation>
    </message>
</context>
<context>
    <name>enclave::ui::BootstrapDialog</name>
    <message>
        <source>The two passwords differ.</source>
        <translation>The two passwords differ.</translation>
    </message>
    <message>
        <source>Create the first administrator</source>
        <translation>Create the first administrator</translation>
    </message>
    <message>
        <source>This engine has no users yet. Its one-time bootstrap secret was read from %1. Choose the first administrator&apos;s name and password.</source>
        <translation>This engine has no users yet. Its one-time bootstrap secret was read from %1. Choose the first administrator&apos;s name and password.</translation>
    </message>
    <message>
        <source>This engine has no users yet. Paste the one-time bootstrap secret from %1 (readable only by the engine&apos;s OS user), then choose the first administrator&apos;s name and password.</source>
        <translation>This engine has no users yet. Paste the one-time bootstrap secret from %1 (readable only by the engine&apos;s OS user), then choose the first administrator&apos;s name and password.</translation>
    </message>
    <message>
        <source>Bootstrap secret:</source>
        <translation>Bootstrap secret:</translation>
    </message>
    <message>
        <source>Administrator name:</source>
        <translation>Administrator name:</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>Password:</translation>
    </message>
    <message>
        <source>Repeat password:</source>
        <translation>Repeat password:</translation>
    </message>
    <message>
        <source>I administer this engine: use the secret read from its state directory</source>
        <translation>I administer this engine: use the secret read from its state directory</translation>
    </message>
    <message>
        <source>at least 12 characters, not containing the name</source>
        <translation>at least 12 characters, not containing the name</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChartPanel</name>
    <message>
        <source>Save this chart as PNG</source>
        <translation>Save this chart as PNG</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChatPage</name>
    <message>
        <source>New conversation</source>
        <translation>New conversation</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Delete</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>Export</translation>
    </message>
    <message>
        <source>As Markdown…</source>
        <translation>As Markdown…</translation>
    </message>
    <message>
        <source>As JSON…</source>
        <translation>As JSON…</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>Send</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>Stop</translation>
    </message>
    <message>
        <source>Write a message…</source>
        <translation>Write a message…</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Settings</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>Model:</translation>
    </message>
    <message>
        <source>System prompt:</source>
        <translation>System prompt:</translation>
    </message>
    <message>
        <source>Optional instructions for the model</source>
        <translation>Optional instructions for the model</translation>
    </message>
    <message>
        <source>Temperature:</source>
        <translation>Temperature:</translation>
    </message>
    <message>
        <source>Top p:</source>
        <translation>Top p:</translation>
    </message>
    <message>
        <source>Top k:</source>
        <translation>Top k:</translation>
    </message>
    <message>
        <source>Max tokens:</source>
        <translation>Max tokens:</translation>
    </message>
    <message>
        <source>No answer yet.</source>
        <translation>No answer yet.</translation>
    </message>
    <message>
        <source>%1 tokens/s · prompt %2 tokens · generated %3 tokens</source>
        <translation>%1 tokens/s · prompt %2 tokens · generated %3 tokens</translation>
    </message>
    <message>
        <source>Conversation</source>
        <translation>Conversation</translation>
    </message>
    <message>
        <source>Export conversation</source>
        <translation>Export conversation</translation>
    </message>
    <message>
        <source>JSON files (*.json)</source>
        <translation>JSON files (*.json)</translation>
    </message>
    <message>
        <source>Markdown files (*.md)</source>
        <translation>Markdown files (*.md)</translation>
    </message>
    <message>
        <source>Exported the conversation to %1</source>
        <translation>Exported the conversation to %1</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>Could not write %1: %2</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>Chat</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChatView</name>
    <message>
        <source>You</source>
        <translation>You</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>Assistant</translation>
    </message>
    <message>
        <source>Reasoning (thinking…)</source>
        <translation>Reasoning (thinking…)</translation>
    </message>
    <message>
        <source>Reasoning</source>
        <translation>Reasoning</translation>
    </message>
    <message>
        <source>%1 tokens, finished: %2</source>
        <translation>%1 tokens, finished: %2</translation>
    </message>
    <message>
        <source>stop sequence</source>
        <translation>stop sequence</translation>
    </message>
    <message>
        <source>end of answer</source>
        <translation>end of answer</translation>
    </message>
    <message>
        <source>token limit reached</source>
        <translation>token limit reached</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>stopped</translation>
    </message>
    <message>
        <source>error</source>
        <translation>error</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ConnectPage</name>
    <message>
        <source>The engine stopped unexpectedly (%1); restart %2 in %3 s.</source>
        <translation>The engine stopped unexpectedly (%1); restart %2 in %3 s.</translation>
    </message>
    <message>
        <source>Engine</source>
        <translation>Engine</translation>
    </message>
    <message>
        <source>Profile:</source>
        <translation>Profile:</translation>
    </message>
    <message>
        <source>Save profile</source>
        <translation>Save profile</translation>
    </message>
    <message>
        <source>Delete profile</source>
        <translation>Delete profile</translation>
    </message>
    <message>
        <source>Kind:</source>
        <translation>Kind:</translation>
    </message>
    <message>
        <source>Local engine (started by the console)</source>
        <translation>Local engine (started by the console)</translation>
    </message>
    <message>
        <source>Remote engine (TLS)</source>
        <translation>Remote engine (TLS)</translation>
    </message>
    <message>
        <source>Profile name:</source>
        <translation>Profile name:</translation>
    </message>
    <message>
        <source>Engine binary:</source>
        <translation>Engine binary:</translation>
    </message>
    <message>
        <source>Model directory:</source>
        <translation>Model directory:</translation>
    </message>
    <message>
        <source>State directory:</source>
        <translation>State directory:</translation>
    </message>
    <message>
        <source>Models to load:</source>
        <translation>Models to load:</translation>
    </message>
    <message>
        <source>Backend:</source>
        <translation>Backend:</translation>
    </message>
    <message>
        <source>GPUs:</source>
        <translation>GPUs:</translation>
    </message>
    <message>
        <source>gRPC socket:</source>
        <translation>gRPC socket:</translation>
    </message>
    <message>
        <source>OpenAI HTTP address:</source>
        <translation>OpenAI HTTP address:</translation>
    </message>
    <message>
        <source>gRPC TLS address:</source>
        <translation>gRPC TLS address:</translation>
    </message>
    <message>
        <source>Host:</source>
        <translation>Host:</translation>
    </message>
    <message>
        <source>Port:</source>
        <translation>Port:</translation>
    </message>
    <message>
        <source>CA certificates (PEM):</source>
        <translation>CA certificates (PEM):</translation>
    </message>
    <message>
        <source>Or pinned engine certificate (PEM):</source>
        <translation>Or pinned engine certificate (PEM):</translation>
    </message>
    <message>
        <source>file names, separated by commas</source>
        <translation>file names, separated by commas</translation>
    </message>
    <message>
        <source>e.g. 0,1 (empty: all)</source>
        <translation>e.g. 0,1 (empty: all)</translation>
    </message>
    <message>
        <source>optional, e.g. 0.0.0.0:4431</source>
        <translation>optional, e.g. 0.0.0.0:4431</translation>
    </message>
    <message>
        <source>Start engine</source>
        <translation>Start engine</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>Stop</translation>
    </message>
    <message>
        <source>Restart</source>
        <translation>Restart</translation>
    </message>
    <message>
        <source>Connect</source>
        <translation>Connect</translation>
    </message>
    <message>
        <source>Engine log</source>
        <translation>Engine log</translation>
    </message>
    <message>
        <source>Give the profile a name first.</source>
        <translation>Give the profile a name first.</translation>
    </message>
    <message>
        <source>Saved the profile %1</source>
        <translation>Saved the profile %1</translation>
    </message>
    <message>
        <source>Engine stopped.</source>
        <translation>Engine stopped.</translation>
    </message>
    <message>
        <source>Engine starting…</source>
        <translation>Engine starting…</translation>
    </message>
    <message>
        <source>Engine running (process %1).</source>
        <translation>Engine running (process %1).</translation>
    </message>
    <message>
        <source>Engine stopping…</source>
        <translation>Engine stopping…</translation>
    </message>
    <message>
        <source>The engine could not be started; see the log.</source>
        <translation>The engine could not be started; see the log.</translation>
    </message>
    <message>
        <source>Not connected.</source>
        <translation>Not connected.</translation>
    </message>
    <message>
        <source>Connected to %1.</source>
        <translation>Connected to %1.</translation>
    </message>
    <message>
        <source>Connecting to %1…</source>
        <translation>Connecting to %1…</translation>
    </message>
    <message>
        <source>%1 %2</source>
        <translation>%1 %2</translation>
    </message>
    <message>
        <source>TLS certificate (PEM):</source>
        <translation>TLS certificate (PEM):</translation>
    </message>
    <message>
        <source>TLS key (PEM):</source>
        <translation>TLS key (PEM):</translation>
    </message>
    <message>
        <source>Name in the certificate:</source>
        <translation>Name in the certificate:</translation>
    </message>
    <message>
        <source>needed with a TLS address</source>
        <translation>needed with a TLS address</translation>
    </message>
    <message>
        <source>optional: when it differs from the host</source>
        <translation>optional: when it differs from the host</translation>
    </message>
</context>
<context>
    <name>enclave::ui::DashboardPage</name>
    <message>
        <source>Time window:</source>
        <translation>Time window:</translation>
    </message>
    <message>
        <source>5 minutes</source>
        <translation>5 minutes</translation>
    </message>
    <message>
        <source>1 hour</source>
        <translation>1 hour</translation>
    </message>
    <message>
        <source>24 hours</source>
        <translation>24 hours</translation>
    </message>
    <message>
        <source>GPUs</source>
        <translation>GPUs</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>Serving</translation>
    </message>
    <message>
        <source>Host and engine process</source>
        <translation>Host and engine process</translation>
    </message>
    <message>
        <source>Alert history</source>
        <translation>Alert history</translation>
    </message>
    <message>
        <source>Waiting for data from the engine…</source>
        <translation>Waiting for data from the engine…</translation>
    </message>
    <message>
        <source>GPU temperature</source>
        <translation>GPU temperature</translation>
    </message>
    <message>
        <source>°C</source>
        <translation>°C</translation>
    </message>
    <message>
        <source>GPU memory used and total</source>
        <translation>GPU memory used and total</translation>
    </message>
    <message>
        <source>GiB</source>
        <translation>GiB</translation>
    </message>
    <message>
        <source>GPU utilisation</source>
        <translation>GPU utilisation</translation>
    </message>
    <message>
        <source>%</source>
        <translation>%</translation>
    </message>
    <message>
        <source>GPU power</source>
        <translation>GPU power</translation>
    </message>
    <message>
        <source>W</source>
        <translation>W</translation>
    </message>
    <message>
        <source>GPU %1</source>
        <translation>GPU %1</translation>
    </message>
    <message>
        <source>GPU %1 used</source>
        <translation>GPU %1 used</translation>
    </message>
    <message>
        <source>GPU %1 total</source>
        <translation>GPU %1 total</translation>
    </message>
    <message>
        <source>alert rule</source>
        <translation>alert rule</translation>
    </message>
    <message>
        <source>default alert</source>
        <translation>default alert</translation>
    </message>
    <message>
        <source>%1: %2 °C</source>
        <translation>%1: %2 °C</translation>
    </message>
    <message>
        <source>Generated tokens per second</source>
        <translation>Generated tokens per second</translation>
    </message>
    <message>
        <source>tokens/s</source>
        <translation>tokens/s</translation>
    </message>
    <message>
        <source>Requests running and waiting</source>
        <translation>Requests running and waiting</translation>
    </message>
    <message>
        <source>requests</source>
        <translation>requests</translation>
    </message>
    <message>
        <source>running</source>
        <translation>running</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>waiting</translation>
    </message>
    <message>
        <source>Time to first token and latency</source>
        <translation>Time to first token and latency</translation>
    </message>
    <message>
        <source>seconds</source>
        <translation>seconds</translation>
    </message>
    <message>
        <source>first token p50</source>
        <translation>first token p50</translation>
    </message>
    <message>
        <source>first token p95</source>
        <translation>first token p95</translation>
    </message>
    <message>
        <source>latency p50</source>
        <translation>latency p50</translation>
    </message>
    <message>
        <source>latency p95</source>
        <translation>latency p95</translation>
    </message>
    <message>
        <source>Success ratio (5 minutes)</source>
        <translation>Success ratio (5 minutes)</translation>
    </message>
    <message>
        <source>ratio</source>
        <translation>ratio</translation>
    </message>
    <message>
        <source>success ratio</source>
        <translation>success ratio</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation>%1: %2</translation>
    </message>
    <message>
        <source>engine</source>
        <translation>engine</translation>
    </message>
    <message>
        <source>Host memory</source>
        <translation>Host memory</translation>
    </message>
    <message>
        <source>used</source>
        <translation>used</translation>
    </message>
    <message>
        <source>total</source>
        <translation>total</translation>
    </message>
    <message>
        <source>Engine memory (resident)</source>
        <translation>Engine memory (resident)</translation>
    </message>
    <message>
        <source>%1 (%2, %3, value %4)</source>
        <translation>%1 (%2, %3, value %4)</translation>
    </message>
    <message>
        <source>Alerts firing: %1</source>
        <translation>Alerts firing: %1</translation>
    </message>
    <message>
        <source>Alert state unknown: %1</source>
        <translation>Alert state unknown: %1</translation>
    </message>
    <message>
        <source>Save chart</source>
        <translation>Save chart</translation>
    </message>
    <message>
        <source>PNG images (*.png)</source>
        <translation>PNG images (*.png)</translation>
    </message>
    <message>
        <source>Saved the chart to %1</source>
        <translation>Saved the chart to %1</translation>
    </message>
    <message>
        <source>Could not write %1</source>
        <translation>Could not write %1</translation>
    </message>
    <message>
        <source>Dashboard</source>
        <translation>Dashboard</translation>
    </message>
    <message>
        <source>No serving totals: %1</source>
        <translation>No serving totals: %1</translation>
    </message>
    <message>
        <source>Since the engine started: %1 requests, %2 failed, %3 refused; %4 prompt and %5 generated tokens</source>
        <translation>Since the engine started: %1 requests, %2 failed, %3 refused; %4 prompt and %5 generated tokens</translation>
    </message>
    <message>
        <source>%1: %2 waiting</source>
        <translation>%1: %2 waiting</translation>
    </message>
    <message>
        <source>%1: first token p95 %2 s</source>
        <translation>%1: first token p95 %2 s</translation>
    </message>
    <message>
        <source>%1: latency p95 %2 s</source>
        <translation>%1: latency p95 %2 s</translation>
    </message>
    <message>
        <source>%1: %2 %</source>
        <translation>%1: %2 %</translation>
    </message>
    <message>
        <source>%1: %2 W</source>
        <translation>%1: %2 W</translation>
    </message>
    <message>
        <source>CPU use</source>
        <translation>CPU use</translation>
    </message>
    <message>
        <source>engine (% of all cores)</source>
        <translation>engine (% of all cores)</translation>
    </message>
    <message>
        <source>host</source>
        <translation>host</translation>
    </message>
    <message>
        <source>%1: %2 % of GPU 0&apos;s memory</source>
        <translation>%1: %2 % of GPU 0&apos;s memory</translation>
    </message>
</context>
<context>
    <name>enclave::ui::MainWindow</name>
    <message>
        <source>Your session expired or was revoked. Sign in again to continue where you were.</source>
        <translation>Your session expired or was revoked. Sign in again to continue where you were.</translation>
    </message>
    <message>
        <source>Lost the connection to the engine; reconnecting…</source>
        <translation>Lost the connection to the engine; reconnecting…</translation>
    </message>
    <message>
        <source>Connected to the engine again.</source>
        <translation>Connected to the engine again.</translation>
    </message>
    <message>
        <source>Not connected</source>
        <translation>Not connected</translation>
    </message>
    <message>
        <source>Connected: %1</source>
        <translation>Connected: %1</translation>
    </message>
    <message>
        <source>Reconnecting: %1</source>
        <translation>Reconnecting: %1</translation>
    </message>
    <message>
        <source>administrator</source>
        <translation>administrator</translation>
    </message>
    <message>
        <source>analyst</source>
        <translation>analyst</translation>
    </message>
    <message>
        <source>auditor</source>
        <translation>auditor</translation>
    </message>
    <message>
        <source>not signed in</source>
        <translation>not signed in</translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation>%1 (%2)</translation>
    </message>
    <message>
        <source>Enclave console</source>
        <translation>Enclave console</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>Sign out</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ModelsPage</name>
    <message>
        <source>Model directory</source>
        <translation>Model directory</translation>
    </message>
    <message>
        <source>Served models</source>
        <translation>Served models</translation>
    </message>
    <message>
        <source>Routes (canary and A/B weights)</source>
        <translation>Routes (canary and A/B weights)</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>Refresh</translation>
    </message>
    <message>
        <source>Load…</source>
        <translation>Load…</translation>
    </message>
    <message>
        <source>Hot swap into…</source>
        <translation>Hot swap into…</translation>
    </message>
    <message>
        <source>Unload</source>
        <translation>Unload</translation>
    </message>
    <message>
        <source>Set route…</source>
        <translation>Set route…</translation>
    </message>
    <message>
        <source>Delete route</source>
        <translation>Delete route</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancel</translation>
    </message>
    <message>
        <source>The model directory could not be listed: %1</source>
        <translation>The model directory could not be listed: %1</translation>
    </message>
    <message>
        <source>Model directory: (not listed yet)</source>
        <translation>Model directory: (not listed yet)</translation>
    </message>
    <message>
        <source>Model directory: %1</source>
        <translation>Model directory: %1</translation>
    </message>
    <message>
        <source>Idle</source>
        <translation>Idle</translation>
    </message>
    <message>
        <source>Select a file to see its memory estimate before loading it.</source>
        <translation>Select a file to see its memory estimate before loading it.</translation>
    </message>
    <message>
        <source>%1 cannot be loaded: %2</source>
        <translation>%1 cannot be loaded: %2</translation>
    </message>
    <message>
        <source>Loading %1 needs about %2 (weights and KV cache at the configured context).</source>
        <translation>Loading %1 needs about %2 (weights and KV cache at the configured context).</translation>
    </message>
    <message>
        <source>Select a model file to load first.</source>
        <translation>Select a model file to load first.</translation>
    </message>
    <message>
        <source>Load model</source>
        <translation>Load model</translation>
    </message>
    <message>
        <source>Served name (empty: the file name):</source>
        <translation>Served name (empty: the file name):</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Failed</translation>
    </message>
    <message>
        <source>Select the new model file, and have a served model to replace.</source>
        <translation>Select the new model file, and have a served model to replace.</translation>
    </message>
    <message>
        <source>Hot swap</source>
        <translation>Hot swap</translation>
    </message>
    <message>
        <source>Replace the served model:</source>
        <translation>Replace the served model:</translation>
    </message>
    <message>
        <source>Starting</source>
        <translation>Starting</translation>
    </message>
    <message>
        <source>Reading</source>
        <translation>Reading</translation>
    </message>
    <message>
        <source>Uploading</source>
        <translation>Uploading</translation>
    </message>
    <message>
        <source>Warming up</source>
        <translation>Warming up</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>Serving</translation>
    </message>
    <message>
        <source>Draining</source>
        <translation>Draining</translation>
    </message>
    <message>
        <source>Unloaded</source>
        <translation>Unloaded</translation>
    </message>
    <message>
        <source>Done: %1 is serving</source>
        <translation>Done: %1 is serving</translation>
    </message>
    <message>
        <source>Select a served model to unload first.</source>
        <translation>Select a served model to unload first.</translation>
    </message>
    <message>
        <source>Unloaded %1</source>
        <translation>Unloaded %1</translation>
    </message>
    <message>
        <source>Set route</source>
        <translation>Set route</translation>
    </message>
    <message>
        <source>Public model name:</source>
        <translation>Public model name:</translation>
    </message>
    <message>
        <source>Targets as model=weight, separated by commas (e.g. a=90, b=10):</source>
        <translation>Targets as model=weight, separated by commas (e.g. a=90, b=10):</translation>
    </message>
    <message>
        <source>Not a target: &apos;%1&apos; (write model=weight)</source>
        <translation>Not a target: &apos;%1&apos; (write model=weight)</translation>
    </message>
    <message>
        <source>Select a route to delete first.</source>
        <translation>Select a route to delete first.</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>Models</translation>
    </message>
</context>
<context>
    <name>enclave::ui::SecretDialog</name>
    <message>
        <source>New API key</source>
        <translation>New API key</translation>
    </message>
    <message>
        <source>The key &quot;%1&quot; is shown only now: the engine keeps only its hash. Copy it and store it safely.</source>
        <translation>The key &quot;%1&quot; is shown only now: the engine keeps only its hash. Copy it and store it safely.</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>Copy</translation>
    </message>
</context>
<context>
    <name>enclave::ui::SettingsPage</name>
    <message>
        <source>The translation for %1 is not available.</source>
        <translation>The translation for %1 is not available.</translation>
    </message>
    <message>
        <source>Appearance</source>
        <translation>Appearance</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>Language:</translation>
    </message>
    <message>
        <source>Theme:</source>
        <translation>Theme:</translation>
    </message>
    <message>
        <source>Light</source>
        <translation>Light</translation>
    </message>
    <message>
        <source>Dark</source>
        <translation>Dark</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Settings</translation>
    </message>
</context>
<context>
    <name>enclave::ui::UsersPage</name>
    <message>
        <source>Users</source>
        <translation>Users</translation>
    </message>
    <message>
        <source>API keys of the selected user (all keys when none is selected)</source>
        <translation>API keys of the selected user (all keys when none is selected)</translation>
    </message>
    <message>
        <source>New user…</source>
        <translation>New user…</translation>
    </message>
    <message>
        <source>Disable / enable</source>
        <translation>Disable / enable</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Delete</translation>
    </message>
    <message>
        <source>Reset password…</source>
        <translation>Reset password…</translation>
    </message>
    <message>
        <source>Change role…</source>
        <translation>Change role…</translation>
    </message>
    <message>
        <source>Limits…</source>
        <translation>Limits…</translation>
    </message>
    <message>
        <source>New API key…</source>
        <translation>New API key…</translation>
    </message>
    <message>
        <source>Revoke key</source>
        <translation>Revoke key</translation>
    </message>
    <message>
        <source>New user</source>
        <translation>New user</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>Name:</translation>
    </message>
    <message>
        <source>Role:</source>
        <translation>Role:</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>Password:</translation>
    </message>
    <message>
        <source>Repeat password:</source>
        <translation>Repeat password:</translation>
    </message>
    <message>
        <source>The two passwords differ.</source>
        <translation>The two passwords differ.</translation>
    </message>
    <message>
        <source>Created the user %1</source>
        <translation>Created the user %1</translation>
    </message>
    <message>
        <source>Enabled %1</source>
        <translation>Enabled %1</translation>
    </message>
    <message>
        <source>Disabled %1</source>
        <translation>Disabled %1</translation>
    </message>
    <message>
        <source>Delete user</source>
        <translation>Delete user</translation>
    </message>
    <message>
        <source>Delete %1? Their sessions and keys end now.</source>
        <translation>Delete %1? Their sessions and keys end now.</translation>
    </message>
    <message>
        <source>Reset password</source>
        <translation>Reset password</translation>
    </message>
    <message>
        <source>New password:</source>
        <translation>New password:</translation>
    </message>
    <message>
        <source>The password was reset; the user&apos;s sessions ended.</source>
        <translation>The password was reset; the user&apos;s sessions ended.</translation>
    </message>
    <message>
        <source>Change role</source>
        <translation>Change role</translation>
    </message>
    <message>
        <source>The role was changed; the user&apos;s sessions ended.</source>
        <translation>The role was changed; the user&apos;s sessions ended.</translation>
    </message>
    <message>
        <source>Limits</source>
        <translation>Limits</translation>
    </message>
    <message>
        <source>unlimited</source>
        <translation>unlimited</translation>
    </message>
    <message>
        <source>Requests per minute:</source>
        <translation>Requests per minute:</translation>
    </message>
    <message>
        <source>Tokens per minute:</source>
        <translation>Tokens per minute:</translation>
    </message>
    <message>
        <source>Concurrent streams:</source>
        <translation>Concurrent streams:</translation>
    </message>
    <message>
        <source>Limits saved.</source>
        <translation>Limits saved.</translation>
    </message>
    <message>
        <source>New API key</source>
        <translation>New API key</translation>
    </message>
    <message>
        <source>Key name:</source>
        <translation>Key name:</translation>
    </message>
    <message>
        <source>at least 12 characters, not containing the name</source>
        <translation>at least 12 characters, not containing the name</translation>
    </message>
    <message>
        <source>Select a user first.</source>
        <translation>Select a user first.</translation>
    </message>
    <message>
        <source>Deleted the user %1</source>
        <translation>Deleted the user %1</translation>
    </message>
    <message>
        <source>never</source>
        <translation>never</translation>
    </message>
    <message>
        <source>Owner:</source>
        <translation>Owner:</translation>
    </message>
    <message>
        <source>you</source>
        <translation>you</translation>
    </message>
    <message>
        <source>Expires after days:</source>
        <translation>Expires after days:</translation>
    </message>
    <message>
        <source>A key needs a name.</source>
        <translation>A key needs a name.</translation>
    </message>
    <message>
        <source>Select a key to revoke first.</source>
        <translation>Select a key to revoke first.</translation>
    </message>
    <message>
        <source>Revoked the key %1</source>
        <translation>Revoked the key %1</translation>
    </message>
</context>
</TS>
