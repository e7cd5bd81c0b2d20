<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>Alerts</name>
    <message>
        <source>critical</source>
        <translation>严重</translation>
    </message>
    <message>
        <source>warning</source>
        <translation>警告</translation>
    </message>
    <message>
        <source>GPU temperature high</source>
        <translation>GPU 温度过高</translation>
    </message>
    <message>
        <source>GPU memory almost full</source>
        <translation>GPU 显存将满</translation>
    </message>
    <message>
        <source>Success ratio low</source>
        <translation>成功率过低</translation>
    </message>
    <message>
        <source>Mean inter-token latency high</source>
        <translation>平均词元间延迟过高</translation>
    </message>
    <message>
        <source>Queue deep</source>
        <translation>等待队列过长</translation>
    </message>
    <message>
        <source>Audit log cannot be written</source>
        <translation>审计日志无法写入</translation>
    </message>
</context>
<context>
    <name>AuditClasses</name>
    <message>
        <source>sign-in and sessions</source>
        <translation>登录与会话</translation>
    </message>
    <message>
        <source>users</source>
        <translation>用户</translation>
    </message>
    <message>
        <source>API keys</source>
        <translation>接口密钥</translation>
    </message>
    <message>
        <source>models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>configuration</source>
        <translation>配置</translation>
    </message>
    <message>
        <source>inference</source>
        <translation>推理</translation>
    </message>
    <message>
        <source>audit log</source>
        <translation>审计日志</translation>
    </message>
</context>
<context>
    <name>ConnectionProfile</name>
    <message>
        <source>Cannot read the certificate file %1: %2</source>
        <translation>无法读取证书文件 %1：%2</translation>
    </message>
    <message>
        <source>A remote engine needs a CA certificate file or its pinned certificate: the console does not trust the system&apos;s CAs for it.</source>
        <translation>远程引擎需要一个 CA 证书文件或其固定证书：控制台不会为它信任系统的 CA。</translation>
    </message>
    <message>
        <source>%1 holds no PEM certificate.</source>
        <translation>%1 中没有 PEM 证书。</translation>
    </message>
</context>
<context>
    <name>LoginDialog</name>
    <message>
        <source>Sign in</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Sign in to the engine with your account.</source>
        <translation>使用您的账户登录引擎。</translation>
    </message>
    <message>
        <source>User name:</source>
        <translation>用户名：</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
</context>
<context>
    <name>Roles</name>
    <message>
        <source>admin</source>
        <translation>管理员</translation>
    </message>
    <message>
        <source>analyst</source>
        <translation>分析员</translation>
    </message>
    <message>
        <source>auditor</source>
        <translation>审计员</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>unlimited</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>%1 req/min, %2 tokens/min, %3 streams</source>
        <translation>每分钟 %1 次请求，每分钟 %2 个词元，%3 个并发流</translation>
    </message>
</context>
<context>
    <name>enclave::app</name>
    <message>
        <source>Model: %1</source>
        <translation>模型：%1</translation>
    </message>
    <message>
        <source>User</source>
        <translation>用户</translation>
    </message>
    <message>
        <source>System</source>
        <translation>系统</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>助手</translation>
    </message>
    <message>
        <source>Reasoning</source>
        <translation>推理过程</translation>
    </message>
</context>
<context>
    <name>enclave::app::AlertEventsModel</name>
    <message>
        <source>firing</source>
        <translation>触发中</translation>
    </message>
    <message>
        <source>resolved</source>
        <translation>已恢复</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Rule</source>
        <translation>规则</translation>
    </message>
    <message>
        <source>Severity</source>
        <translation>级别</translation>
    </message>
    <message>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>对象</translation>
    </message>
    <message>
        <source>Value</source>
        <translation>数值</translation>
    </message>
</context>
<context>
    <name>enclave::app::AlertRulesModel</name>
    <message>
        <source>on</source>
        <translation>开</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Metric</source>
        <translation>指标</translation>
    </message>
    <message>
        <source>Comparison</source>
        <translation>比较</translation>
    </message>
    <message>
        <source>Threshold</source>
        <translation>阈值</translation>
    </message>
    <message>
        <source>For (s)</source>
        <translation>持续（秒）</translation>
    </message>
    <message>
        <source>Severity</source>
        <translation>级别</translation>
    </message>
    <message>
        <source>Enabled</source>
        <translation>启用</translation>
    </message>
</context>
<context>
    <name>enclave::app::AuditModel</name>
    <message>
        <source>ok</source>
        <translation>成功</translation>
    </message>
    <message>
        <source>denied</source>
        <translation>拒绝</translation>
    </message>
    <message>
        <source>error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Seq</source>
        <translation>序号</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Actor</source>
        <translation>操作者</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>角色</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Class</source>
        <translation>类别</translation>
    </message>
    <message>
        <source>Action</source>
        <translation>操作</translation>
    </message>
    <message>
        <source>Target</source>
        <translation>目标</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>结果</translation>
    </message>
</context>
<context>
    <name>enclave::app::ConversationsModel</name>
    <message>
        <source>(untitled)</source>
        <translation>（无标题）</translation>
    </message>
    <message>
        <source>Title</source>
        <translation>标题</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Messages</source>
        <translation>消息数</translation>
    </message>
    <message>
        <source>Updated</source>
        <translation>更新时间</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineClient</name>
    <message>
        <source>not connected</source>
        <translation>未连接</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineError</name>
    <message>
        <source>the engine cannot be reached</source>
        <translation>无法连接到引擎</translation>
    </message>
    <message>
        <source>this engine does not offer it yet</source>
        <translation>此引擎尚未提供该功能</translation>
    </message>
    <message>
        <source>the session is missing or has expired; please sign in</source>
        <translation>会话不存在或已过期，请登录</translation>
    </message>
    <message>
        <source>your role may not do this</source>
        <translation>您的角色无权执行此操作</translation>
    </message>
    <message>
        <source>the engine refused a value</source>
        <translation>引擎拒绝了某个取值</translation>
    </message>
    <message>
        <source>not found</source>
        <translation>未找到</translation>
    </message>
    <message>
        <source>it already exists</source>
        <translation>已存在</translation>
    </message>
    <message>
        <source>the engine is busy or a limit was reached</source>
        <translation>引擎繁忙或已达到限额</translation>
    </message>
    <message>
        <source>the engine did not answer in time</source>
        <translation>引擎未及时响应</translation>
    </message>
    <message>
        <source>not possible in the current state</source>
        <translation>当前状态下无法执行</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>the engine reported an error</source>
        <translation>引擎报告了错误</translation>
    </message>
    <message>
        <source>the engine&apos;s TLS certificate was refused: it is not signed by the trusted CA, is not the pinned certificate, or was not issued for this host name</source>
        <translation>引擎的 TLS 证书被拒绝：它不是由受信任的 CA 签发的、不是固定的证书，或不是为此主机名签发的</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation>%1（%2）</translation>
    </message>
</context>
<context>
    <name>enclave::app::EngineProcess</name>
    <message>
        <source>Stopping the engine (SIGTERM).</source>
        <translation>正在停止引擎（SIGTERM）。</translation>
    </message>
    <message>
        <source>This engine has no --%1 flag; the profile&apos;s setting (%2) is left out.</source>
        <translation>此引擎没有 --%1 参数；配置中的该项设置（%2）未被使用。</translation>
    </message>
    <message>
        <source>The engine binary %1 does not exist or is not executable.</source>
        <translation>引擎程序 %1 不存在或不可执行。</translation>
    </message>
    <message>
        <source>%1 serve --help failed: %2</source>
        <translation>%1 serve --help 执行失败：%2</translation>
    </message>
    <message>
        <source>Starting: %1 %2</source>
        <translation>正在启动：%1 %2</translation>
    </message>
    <message>
        <source>The engine could not be started: %1</source>
        <translation>无法启动引擎：%1</translation>
    </message>
    <message>
        <source>The engine stopped.</source>
        <translation>引擎已停止。</translation>
    </message>
    <message>
        <source>the engine crashed or was killed</source>
        <translation>引擎崩溃或被终止</translation>
    </message>
    <message>
        <source>the engine exited with code %1</source>
        <translation>引擎以退出码 %1 退出</translation>
    </message>
    <message>
        <source>The engine failed %1 times before becoming ready (%2); not restarting it. See the log.</source>
        <translation>引擎在就绪前已失败 %1 次（%2），不再重启。请查看日志。</translation>
    </message>
    <message>
        <source>Unexpected stop: %1. Restarting in %2 s.</source>
        <translation>意外停止：%1。将在 %2 秒后重启。</translation>
    </message>
</context>
<context>
    <name>enclave::app::Event</name>
    <message>
        <source>not connected</source>
        <translation>未连接</translation>
    </message>
</context>
<context>
    <name>enclave::app::KeysModel</name>
    <message>
        <source>all</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>never</source>
        <translation>从不</translation>
    </message>
    <message>
        <source>revoked</source>
        <translation>已吊销</translation>
    </message>
    <message>
        <source>expired</source>
        <translation>已过期</translation>
    </message>
    <message>
        <source>active</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Key prefix</source>
        <translation>密钥前缀</translation>
    </message>
    <message>
        <source>User id</source>
        <translation>用户编号</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>角色</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>创建时间</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>过期时间</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
</context>
<context>
    <name>enclave::app::LoadedModelsModel</name>
    <message>
        <source>serving</source>
        <translation>服务中</translation>
    </message>
    <message>
        <source>draining</source>
        <translation>排空中</translation>
    </message>
    <message>
        <source>Served name</source>
        <translation>服务名称</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>上下文</translation>
    </message>
    <message>
        <source>Backend</source>
        <translation>后端</translation>
    </message>
    <message>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>等待中</translation>
    </message>
</context>
<context>
    <name>enclave::app::ModelFilesModel</name>
    <message>
        <source>not loadable: %1</source>
        <translation>无法加载：%1</translation>
    </message>
    <message>
        <source>loaded</source>
        <translation>已加载</translation>
    </message>
    <message>
        <source>available</source>
        <translation>可用</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>Size on disk</source>
        <translation>磁盘大小</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>上下文</translation>
    </message>
    <message>
        <source>Estimated memory</source>
        <translation>预计内存</translation>
    </message>
    <message>
        <source>Tensor types</source>
        <translation>张量类型</translation>
    </message>
    <message>
        <source>Served as</source>
        <translation>服务名称</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
</context>
<context>
    <name>enclave::app::RoutesModel</name>
    <message>
        <source>%1: weight %2 (%3 %)</source>
        <translation>%1：权重 %2（%3 %）</translation>
    </message>
    <message>
        <source>Public name</source>
        <translation>公开名称</translation>
    </message>
    <message>
        <source>Targets and weights</source>
        <translation>目标与权重</translation>
    </message>
</context>
<context>
    <name>enclave::app::UsersModel</name>
    <message>
        <source>disabled</source>
        <translation>已停用</translation>
    </message>
    <message>
        <source>locked until %1</source>
        <translation>锁定至 %1</translation>
    </message>
    <message>
        <source>active</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>never</source>
        <translation>从不</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>角色</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>创建时间</translation>
    </message>
    <message>
        <source>Last sign-in</source>
        <translation>上次登录</translation>
    </message>
    <message>
        <source>Limits</source>
        <translation>限额</translation>
    </message>
</context>
<context>
    <name>enclave::ui::AlertsPage</name>
    <message>
        <source>Alert rules</source>
        <translation>告警规则</translation>
    </message>
    <message>
        <source>Double-click a cell to edit it, then save. A rule fires when the metric compared with the threshold holds for the given number of seconds.</source>
        <translation>双击单元格进行编辑，然后保存。当指标与阈值的比较条件持续满足指定秒数时，规则触发。</translation>
    </message>
    <message>
        <source>New rule…</source>
        <translation>新建规则…</translation>
    </message>
    <message>
        <source>Delete rule</source>
        <translation>删除规则</translation>
    </message>
    <message>
        <source>Discard changes</source>
        <translation>放弃修改</translation>
    </message>
    <message>
        <source>Save changes</source>
        <translation>保存修改</translation>
    </message>
    <message>
        <source>No changes to save.</source>
        <translation>没有需要保存的修改。</translation>
    </message>
    <message>
        <source>Saved the rule %1</source>
        <translation>已保存规则 %1</translation>
    </message>
    <message>
        <source>New alert rule</source>
        <translation>新建告警规则</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Metric:</source>
        <translation>指标：</translation>
    </message>
    <message>
        <source>Comparison:</source>
        <translation>比较：</translation>
    </message>
    <message>
        <source>Threshold:</source>
        <translation>阈值：</translation>
    </message>
    <message>
        <source>For (seconds):</source>
        <translation>持续（秒）：</translation>
    </message>
    <message>
        <source>Severity:</source>
        <translation>级别：</translation>
    </message>
    <message>
        <source>Alerts</source>
        <translation>告警</translation>
    </message>
    <message>
        <source>Select a rule to delete first.</source>
        <translation>请先选择要删除的规则。</translation>
    </message>
</context>
<context>
    <name>enclave::ui::AuditPage</name>
    <message>
        <source>Filters</source>
        <translation>筛选</translation>
    </message>
    <message>
        <source>Time range</source>
        <translation>时间范围</translation>
    </message>
    <message>
        <source>From:</source>
        <translation>从：</translation>
    </message>
    <message>
        <source>To:</source>
        <translation>到：</translation>
    </message>
    <message>
        <source>Actor:</source>
        <translation>操作者：</translation>
    </message>
    <message>
        <source>Action class:</source>
        <translation>操作类别：</translation>
    </message>
    <message>
        <source>any</source>
        <translation>任意</translation>
    </message>
    <message>
        <source>Result:</source>
        <translation>结果：</translation>
    </message>
    <message>
        <source>ok</source>
        <translation>成功</translation>
    </message>
    <message>
        <source>denied</source>
        <translation>拒绝</translation>
    </message>
    <message>
        <source>error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Text:</source>
        <translation>文本：</translation>
    </message>
    <message>
        <source>in target or details</source>
        <translation>在目标或详情中</translation>
    </message>
    <message>
        <source>Search</source>
        <translation>搜索</translation>
    </message>
    <message>
        <source>Load more</source>
        <translation>加载更多</translation>
    </message>
    <message>
        <source>Verify chain</source>
        <translation>校验哈希链</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>导出 CSV…</translation>
    </message>
    <message>
        <source>Export JSON…</source>
        <translation>导出 JSON…</translation>
    </message>
    <message>
        <source>Chain not verified yet</source>
        <translation>哈希链尚未校验</translation>
    </message>
    <message>
        <source>%1 of %2 records</source>
        <translation>%1 / %2 条记录</translation>
    </message>
    <message>
        <source>%1 records</source>
        <translation>%1 条记录</translation>
    </message>
    <message>
        <source>Record %1 at %2 by %3 (%4) from %5
%6 %7 on %8: %9

Details:
%10

Previous hash: %11
Hash: %12</source>
        <translation>记录 %1，时间 %2，操作者 %3（%4），来源 %5
%6 %7，目标 %8：%9

详情：
%10

前一哈希：%11
哈希：%12</translation>
    </message>
    <message>
        <source>Verifying…</source>
        <translation>正在校验…</translation>
    </message>
    <message>
        <source>Chain intact: %1 records verified</source>
        <translation>哈希链完整：已校验 %1 条记录</translation>
    </message>
    <message>
        <source>Chain broken at record %1: %2</source>
        <translation>哈希链在第 %1 条记录处断裂：%2</translation>
    </message>
    <message>
        <source>Verification failed</source>
        <translation>校验失败</translation>
    </message>
    <message>
        <source>Export audit records</source>
        <translation>导出审计记录</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>CSV 文件 (*.csv)</translation>
    </message>
    <message>
        <source>JSON files (*.json)</source>
        <translation>JSON 文件 (*.json)</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Exported the audit records to %1</source>
        <translation>已将审计记录导出到 %1</translation>
    </message>
    <message>
        <source>Audit log</source>
        <translation>审计日志</translation>
    </message>
</context>
<context>
    <name>enclave::ui::BootstrapDialog</name>
    <message>
        <source>The two passwords differ.</source>
        <translation>两次输入的密码不一致。</translation>
    </message>
    <message>
        <source>Create the first administrator</source>
        <translation>创建首个管理员</translation>
    </message>
    <message>
        <source>This engine has no users yet. Its one-time bootstrap secret was read from %1. Choose the first administrator&apos;s name and password.</source>
        <translation>此引擎还没有用户。已从 %1 读取一次性引导密钥。请设置首个管理员的名称和密码。</translation>
    </message>
    <message>
        <source>This engine has no users yet. Paste the one-time bootstrap secret from %1 (readable only by the engine&apos;s OS user), then choose the first administrator&apos;s name and password.</source>
        <translation>此引擎还没有用户。请粘贴 %1 中的一次性引导密钥（仅引擎的系统用户可读），然后设置首个管理员的名称和密码。</translation>
    </message>
    <message>
        <source>Bootstrap secret:</source>
        <translation>引导密钥：</translation>
    </message>
    <message>
        <source>Administrator name:</source>
        <translation>管理员名称：</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
    <message>
        <source>Repeat password:</source>
        <translation>重复密码：</translation>
    </message>
    <message>
        <source>I administer this engine: use the secret read from its state directory</source>
        <translation>我是此引擎的管理员：使用从其状态目录读取的密钥</translation>
    </message>
    <message>
        <source>at least 12 characters, not containing the name</source>
        <translation>至少 12 个字符，且不包含用户名</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChartPanel</name>
    <message>
        <source>Save this chart as PNG</source>
        <translation>将此图表保存为 PNG</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChatPage</name>
    <message>
        <source>New conversation</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>As Markdown…</source>
        <translation>导出为 Markdown…</translation>
    </message>
    <message>
        <source>As JSON…</source>
        <translation>导出为 JSON…</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Write a message…</source>
        <translation>输入消息…</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>System prompt:</source>
        <translation>系统提示词：</translation>
    </message>
    <message>
        <source>Optional instructions for the model</source>
        <translation>给模型的可选指令</translation>
    </message>
    <message>
        <source>Temperature:</source>
        <translation>温度：</translation>
    </message>
    <message>
        <source>Top p:</source>
        <translation>核采样 p：</translation>
    </message>
    <message>
        <source>Top k:</source>
        <translation>前 k 采样：</translation>
    </message>
    <message>
        <source>Max tokens:</source>
        <translation>最大词元数：</translation>
    </message>
    <message>
        <source>No answer yet.</source>
        <translation>尚无回答。</translation>
    </message>
    <message>
        <source>%1 tokens/s · prompt %2 tokens · generated %3 tokens</source>
        <translation>%1 词元/秒 · 提示 %2 个词元 · 生成 %3 个词元</translation>
    </message>
    <message>
        <source>Conversation</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>Export conversation</source>
        <translation>导出对话</translation>
    </message>
    <message>
        <source>JSON files (*.json)</source>
        <translation>JSON 文件 (*.json)</translation>
    </message>
    <message>
        <source>Markdown files (*.md)</source>
        <translation>Markdown 文件 (*.md)</translation>
    </message>
    <message>
        <source>Exported the conversation to %1</source>
        <translation>已将对话导出到 %1</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>对话</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ChatView</name>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>助手</translation>
    </message>
    <message>
        <source>Reasoning (thinking…)</source>
        <translation>推理过程（思考中…）</translation>
    </message>
    <message>
        <source>Reasoning</source>
        <translation>推理过程</translation>
    </message>
    <message>
        <source>%1 tokens, finished: %2</source>
        <translation>%1 个词元，结束原因：%2</translation>
    </message>
    <message>
        <source>stop sequence</source>
        <translation>停止序列</translation>
    </message>
    <message>
        <source>end of answer</source>
        <translation>回答结束</translation>
    </message>
    <message>
        <source>token limit reached</source>
        <translation>达到词元上限</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>error</source>
        <translation>错误</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ConnectPage</name>
    <message>
        <source>The engine stopped unexpectedly (%1); restart %2 in %3 s.</source>
        <translation>引擎意外停止（%1）；第 %2 次重启将在 %3 秒后进行。</translation>
    </message>
    <message>
        <source>Engine</source>
        <translation>引擎</translation>
    </message>
    <message>
        <source>Profile:</source>
        <translation>配置：</translation>
    </message>
    <message>
        <source>Save profile</source>
        <translation>保存配置</translation>
    </message>
    <message>
        <source>Delete profile</source>
        <translation>删除配置</translation>
    </message>
    <message>
        <source>Kind:</source>
        <translation>类型：</translation>
    </message>
    <message>
        <source>Local engine (started by the console)</source>
        <translation>本地引擎（由控制台启动）</translation>
    </message>
    <message>
        <source>Remote engine (TLS)</source>
        <translation>远程引擎（TLS）</translation>
    </message>
    <message>
        <source>Profile name:</source>
        <translation>配置名称：</translation>
    </message>
    <message>
        <source>Engine binary:</source>
        <translation>引擎程序：</translation>
    </message>
    <message>
        <source>Model directory:</source>
        <translation>模型目录：</translation>
    </message>
    <message>
        <source>State directory:</source>
        <translation>状态目录：</translation>
    </message>
    <message>
        <source>Models to load:</source>
        <translation>启动时加载的模型：</translation>
    </message>
    <message>
        <source>Backend:</source>
        <translation>后端：</translation>
    </message>
    <message>
        <source>GPUs:</source>
        <translation>显卡：</translation>
    </message>
    <message>
        <source>gRPC socket:</source>
        <translation>gRPC 套接字：</translation>
    </message>
    <message>
        <source>OpenAI HTTP address:</source>
        <translation>OpenAI HTTP 地址：</translation>
    </message>
    <message>
        <source>gRPC TLS address:</source>
        <translation>gRPC TLS 地址：</translation>
    </message>
    <message>
        <source>Host:</source>
        <translation>主机：</translation>
    </message>
    <message>
        <source>Port:</source>
        <translation>端口：</translation>
    </message>
    <message>
        <source>CA certificates (PEM):</source>
        <translation>CA 证书（PEM）：</translation>
    </message>
    <message>
        <source>Or pinned engine certificate (PEM):</source>
        <translation>或固定的引擎证书（PEM）：</translation>
    </message>
    <message>
        <source>file names, separated by commas</source>
        <translation>文件名，用逗号分隔</translation>
    </message>
    <message>
        <source>e.g. 0,1 (empty: all)</source>
        <translation>例如 0,1（留空：全部）</translation>
    </message>
    <message>
        <source>optional, e.g. 0.0.0.0:4431</source>
        <translation>可选，例如 0.0.0.0:4431</translation>
    </message>
    <message>
        <source>Start engine</source>
        <translation>启动引擎</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Restart</source>
        <translation>重启</translation>
    </message>
    <message>
        <source>Connect</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>Engine log</source>
        <translation>引擎日志</translation>
    </message>
    <message>
        <source>Give the profile a name first.</source>
        <translation>请先为配置命名。</translation>
    </message>
    <message>
        <source>Saved the profile %1</source>
        <translation>已保存配置 %1</translation>
    </message>
    <message>
        <source>Engine stopped.</source>
        <translation>引擎已停止。</translation>
    </message>
    <message>
        <source>Engine starting…</source>
        <translation>引擎正在启动…</translation>
    </message>
    <message>
        <source>Engine running (process %1).</source>
        <translation>引擎运行中（进程 %1）。</translation>
    </message>
    <message>
        <source>Engine stopping…</source>
        <translation>引擎正在停止…</translation>
    </message>
    <message>
        <source>The engine could not be started; see the log.</source>
        <translation>无法启动引擎，请查看日志。</translation>
    </message>
    <message>
        <source>Not connected.</source>
        <translation>未连接。</translation>
    </message>
    <message>
        <source>Connected to %1.</source>
        <translation>已连接到 %1。</translation>
    </message>
    <message>
        <source>Connecting to %1…</source>
        <translation>正在连接 %1…</translation>
    </message>
    <message>
        <source>%1 %2</source>
        <translation>%1 %2</translation>
    </message>
    <message>
        <source>TLS certificate (PEM):</source>
        <translation>TLS 证书（PEM）：</translation>
    </message>
    <message>
        <source>TLS key (PEM):</source>
        <translation>TLS 私钥（PEM）：</translation>
    </message>
    <message>
        <source>Name in the certificate:</source>
        <translation>证书中的名称：</translation>
    </message>
    <message>
        <source>needed with a TLS address</source>
        <translation>设置 TLS 地址时必填</translation>
    </message>
    <message>
        <source>optional: when it differs from the host</source>
        <translation>可选：与主机名不同时填写</translation>
    </message>
</context>
<context>
    <name>enclave::ui::DashboardPage</name>
    <message>
        <source>Time window:</source>
        <translation>时间范围：</translation>
    </message>
    <message>
        <source>5 minutes</source>
        <translation>5 分钟</translation>
    </message>
    <message>
        <source>1 hour</source>
        <translation>1 小时</translation>
    </message>
    <message>
        <source>24 hours</source>
        <translation>24 小时</translation>
    </message>
    <message>
        <source>GPUs</source>
        <translation>显卡</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>推理服务</translation>
    </message>
    <message>
        <source>Host and engine process</source>
        <translation>主机与引擎进程</translation>
    </message>
    <message>
        <source>Alert history</source>
        <translation>告警历史</translation>
    </message>
    <message>
        <source>Waiting for data from the engine…</source>
        <translation>正在等待引擎数据…</translation>
    </message>
    <message>
        <source>GPU temperature</source>
        <translation>显卡温度</translation>
    </message>
    <message>
        <source>°C</source>
        <translation>°C</translation>
    </message>
    <message>
        <source>GPU memory used and total</source>
        <translation>显存用量与总量</translation>
    </message>
    <message>
        <source>GiB</source>
        <translation>GiB</translation>
    </message>
    <message>
        <source>GPU utilisation</source>
        <translation>显卡利用率</translation>
    </message>
    <message>
        <source>%</source>
        <translation>%</translation>
    </message>
    <message>
        <source>GPU power</source>
        <translation>显卡功耗</translation>
    </message>
    <message>
        <source>W</source>
        <translation>瓦</translation>
    </message>
    <message>
        <source>GPU %1</source>
        <translation>显卡 %1</translation>
    </message>
    <message>
        <source>GPU %1 used</source>
        <translation>显卡 %1 已用</translation>
    </message>
    <message>
        <source>GPU %1 total</source>
        <translation>显卡 %1 总量</translation>
    </message>
    <message>
        <source>alert rule</source>
        <translation>告警规则</translation>
    </message>
    <message>
        <source>default alert</source>
        <translation>默认告警</translation>
    </message>
    <message>
        <source>%1: %2 °C</source>
        <translation>%1：%2 °C</translation>
    </message>
    <message>
        <source>Generated tokens per second</source>
        <translation>每秒生成词元数</translation>
    </message>
    <message>
        <source>tokens/s</source>
        <translation>词元/秒</translation>
    </message>
    <message>
        <source>Requests running and waiting</source>
        <translation>运行中与等待中的请求</translation>
    </message>
    <message>
        <source>requests</source>
        <translation>请求</translation>
    </message>
    <message>
        <source>running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>等待中</translation>
    </message>
    <message>
        <source>Time to first token and latency</source>
        <translation>首词元时间与延迟</translation>
    </message>
    <message>
        <source>seconds</source>
        <translation>秒</translation>
    </message>
    <message>
        <source>first token p50</source>
        <translation>首词元 p50</translation>
    </message>
    <message>
        <source>first token p95</source>
        <translation>首词元 p95</translation>
    </message>
    <message>
        <source>latency p50</source>
        <translation>延迟 p50</translation>
    </message>
    <message>
        <source>latency p95</source>
        <translation>延迟 p95</translation>
    </message>
    <message>
        <source>Success ratio (5 minutes)</source>
        <translation>成功率（5 分钟）</translation>
    </message>
    <message>
        <source>ratio</source>
        <translation>比率</translation>
    </message>
    <message>
        <source>success ratio</source>
        <translation>成功率</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <source>engine</source>
        <translation>引擎</translation>
    </message>
    <message>
        <source>Host memory</source>
        <translation>主机内存</translation>
    </message>
    <message>
        <source>used</source>
        <translation>已用</translation>
    </message>
    <message>
        <source>total</source>
        <translation>总量</translation>
    </message>
    <message>
        <source>Engine memory (resident)</source>
        <translation>引擎内存（常驻）</translation>
    </message>
    <message>
        <source>%1 (%2, %3, value %4)</source>
        <translation>%1（%2，%3，数值 %4）</translation>
    </message>
    <message>
        <source>Alerts firing: %1</source>
        <translation>正在触发的告警：%1</translation>
    </message>
    <message>
        <source>Alert state unknown: %1</source>
        <translation>告警状态未知：%1</translation>
    </message>
    <message>
        <source>Save chart</source>
        <translation>保存图表</translation>
    </message>
    <message>
        <source>PNG images (*.png)</source>
        <translation>PNG 图片 (*.png)</translation>
    </message>
    <message>
        <source>Saved the chart to %1</source>
        <translation>已将图表保存到 %1</translation>
    </message>
    <message>
        <source>Could not write %1</source>
        <translation>无法写入 %1</translation>
    </message>
    <message>
        <source>Dashboard</source>
        <translation>仪表盘</translation>
    </message>
    <message>
        <source>No serving totals: %1</source>
        <translation>无服务总计：%1</translation>
    </message>
    <message>
        <source>Since the engine started: %1 requests, %2 failed, %3 refused; %4 prompt and %5 generated tokens</source>
        <translation>自引擎启动以来：%1 个请求，%2 个失败，%3 个被拒绝；提示词元 %4 个，生成词元 %5 个</translation>
    </message>
    <message>
        <source>%1: %2 waiting</source>
        <translation>%1：%2 个等待</translation>
    </message>
    <message>
        <source>%1: first token p95 %2 s</source>
        <translation>%1：首词元 p95 %2 秒</translation>
    </message>
    <message>
        <source>%1: latency p95 %2 s</source>
        <translation>%1：延迟 p95 %2 秒</translation>
    </message>
    <message>
        <source>%1: %2 %</source>
        <translation>%1：%2 %</translation>
    </message>
    <message>
        <source>%1: %2 W</source>
        <translation>%1：%2 W</translation>
    </message>
    <message>
        <source>CPU use</source>
        <translation>CPU 使用率</translation>
    </message>
    <message>
        <source>engine (% of all cores)</source>
        <translation>引擎（占全部核心的 %）</translation>
    </message>
    <message>
        <source>host</source>
        <translation>主机</translation>
    </message>
    <message>
        <source>%1: %2 % of GPU 0&apos;s memory</source>
        <translation>%1：显卡 0 显存的 %2 %</translation>
    </message>
</context>
<context>
    <name>enclave::ui::MainWindow</name>
    <message>
        <source>Your session expired or was revoked. Sign in again to continue where you were.</source>
        <translation>您的会话已过期或被吊销。请重新登录以继续之前的操作。</translation>
    </message>
    <message>
        <source>Lost the connection to the engine; reconnecting…</source>
        <translation>与引擎的连接已断开，正在重新连接…</translation>
    </message>
    <message>
        <source>Connected to the engine again.</source>
        <translation>已重新连接到引擎。</translation>
    </message>
    <message>
        <source>Not connected</source>
        <translation>未连接</translation>
    </message>
    <message>
        <source>Connected: %1</source>
        <translation>已连接：%1</translation>
    </message>
    <message>
        <source>Reconnecting: %1</source>
        <translation>正在重新连接：%1</translation>
    </message>
    <message>
        <source>administrator</source>
        <translation>管理员</translation>
    </message>
    <message>
        <source>analyst</source>
        <translation>分析员</translation>
    </message>
    <message>
        <source>auditor</source>
        <translation>审计员</translation>
    </message>
    <message>
        <source>not signed in</source>
        <translation>未登录</translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation>%1（%2）</translation>
    </message>
    <message>
        <source>Enclave console</source>
        <translation>Enclave 控制台</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>退出登录</translation>
    </message>
</context>
<context>
    <name>enclave::ui::ModelsPage</name>
    <message>
        <source>Model directory</source>
        <translation>模型目录</translation>
    </message>
    <message>
        <source>Served models</source>
        <translation>服务中的模型</translation>
    </message>
    <message>
        <source>Routes (canary and A/B weights)</source>
        <translation>路由（灰度与 A/B 权重）</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Load…</source>
        <translation>加载…</translation>
    </message>
    <message>
        <source>Hot swap into…</source>
        <translation>热替换到…</translation>
    </message>
    <message>
        <source>Unload</source>
        <translation>卸载</translation>
    </message>
    <message>
        <source>Set route…</source>
        <translation>设置路由…</translation>
    </message>
    <message>
        <source>Delete route</source>
        <translation>删除路由</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>The model directory could not be listed: %1</source>
        <translation>无法列出模型目录：%1</translation>
    </message>
    <message>
        <source>Model directory: (not listed yet)</source>
        <translation>模型目录：（尚未列出）</translation>
    </message>
    <message>
        <source>Model directory: %1</source>
        <translation>模型目录：%1</translation>
    </message>
    <message>
        <source>Idle</source>
        <translation>空闲</translation>
    </message>
    <message>
        <source>Select a file to see its memory estimate before loading it.</source>
        <translation>选择一个文件，在加载前查看其内存估算。</translation>
    </message>
    <message>
        <source>%1 cannot be loaded: %2</source>
        <translation>%1 无法加载：%2</translation>
    </message>
    <message>
        <source>Loading %1 needs about %2 (weights and KV cache at the configured context).</source>
        <translation>加载 %1 约需 %2（按配置的上下文计算权重与 KV 缓存）。</translation>
    </message>
    <message>
        <source>Select a model file to load first.</source>
        <translation>请先选择要加载的模型文件。</translation>
    </message>
    <message>
        <source>Load model</source>
        <translation>加载模型</translation>
    </message>
    <message>
        <source>Served name (empty: the file name):</source>
        <translation>服务名称（留空：使用文件名）：</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Select the new model file, and have a served model to replace.</source>
        <translation>请选择新的模型文件，并确保有可被替换的服务中模型。</translation>
    </message>
    <message>
        <source>Hot swap</source>
        <translation>热替换</translation>
    </message>
    <message>
        <source>Replace the served model:</source>
        <translation>替换服务中的模型：</translation>
    </message>
    <message>
        <source>Starting</source>
        <translation>正在开始</translation>
    </message>
    <message>
        <source>Reading</source>
        <translation>正在读取</translation>
    </message>
    <message>
        <source>Uploading</source>
        <translation>正在上传</translation>
    </message>
    <message>
        <source>Warming up</source>
        <translation>正在预热</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>推理服务</translation>
    </message>
    <message>
        <source>Draining</source>
        <translation>正在排空</translation>
    </message>
    <message>
        <source>Unloaded</source>
        <translation>已卸载</translation>
    </message>
    <message>
        <source>Done: %1 is serving</source>
        <translation>完成：%1 正在提供服务</translation>
    </message>
    <message>
        <source>Select a served model to unload first.</source>
        <translation>请先选择要卸载的服务中模型。</translation>
    </message>
    <message>
        <source>Unloaded %1</source>
        <translation>已卸载 %1</translation>
    </message>
    <message>
        <source>Set route</source>
        <translation>设置路由</translation>
    </message>
    <message>
        <source>Public model name:</source>
        <translation>公开模型名称：</translation>
    </message>
    <message>
        <source>Targets as model=weight, separated by commas (e.g. a=90, b=10):</source>
        <translation>目标格式为 模型=权重，用逗号分隔（例如 a=90, b=10）：</translation>
    </message>
    <message>
        <source>Not a target: &apos;%1&apos; (write model=weight)</source>
        <translation>不是有效目标：“%1”（请写成 模型=权重）</translation>
    </message>
    <message>
        <source>Select a route to delete first.</source>
        <translation>请先选择要删除的路由。</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
</context>
<context>
    <name>enclave::ui::SecretDialog</name>
    <message>
        <source>New API key</source>
        <translation>新建接口密钥</translation>
    </message>
    <message>
        <source>The key &quot;%1&quot; is shown only now: the engine keeps only its hash. Copy it and store it safely.</source>
        <translation>密钥“%1”仅显示这一次：引擎只保存其哈希值。请复制并妥善保管。</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
</context>
<context>
    <name>enclave::ui::SettingsPage</name>
    <message>
        <source>The translation for %1 is not available.</source>
        <translation>%1 的翻译不可用。</translation>
    </message>
    <message>
        <source>Appearance</source>
        <translation>外观</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>语言：</translation>
    </message>
    <message>
        <source>Theme:</source>
        <translation>主题：</translation>
    </message>
    <message>
        <source>Light</source>
        <translation>浅色</translation>
    </message>
    <message>
        <source>Dark</source>
        <translation>深色</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
</context>
<context>
    <name>enclave::ui::UsersPage</name>
    <message>
        <source>Users</source>
        <translation>用户</translation>
    </message>
    <message>
        <source>API keys of the selected user (all keys when none is selected)</source>
        <translation>所选用户的接口密钥（未选择时显示全部）</translation>
    </message>
    <message>
        <source>New user…</source>
        <translation>新建用户…</translation>
    </message>
    <message>
        <source>Disable / enable</source>
        <translation>停用 / 启用</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Reset password…</source>
        <translation>重置密码…</translation>
    </message>
    <message>
        <source>Change role…</source>
        <translation>更改角色…</translation>
    </message>
    <message>
        <source>Limits…</source>
        <translation>限额…</translation>
    </message>
    <message>
        <source>New API key…</source>
        <translation>新建接口密钥…</translation>
    </message>
    <message>
        <source>Revoke key</source>
        <translation>吊销密钥</translation>
    </message>
    <message>
        <source>New user</source>
        <translation>新建用户</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Role:</source>
        <translation>角色：</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
    <message>
        <source>Repeat password:</source>
        <translation>重复密码：</translation>
    </message>
    <message>
        <source>The two passwords differ.</source>
        <translation>两次输入的密码不一致。</translation>
    </message>
    <message>
        <source>Created the user %1</source>
        <translation>已创建用户 %1</translation>
    </message>
    <message>
        <source>Enabled %1</source>
        <translation>已启用 %1</translation>
    </message>
    <message>
        <source>Disabled %1</source>
        <translation>已停用 %1</translation>
    </message>
    <message>
        <source>Delete user</source>
        <translation>删除用户</translation>
    </message>
    <message>
        <source>Delete %1? Their sessions and keys end now.</source>
        <translation>删除 %1？其会话和密钥将立即失效。</translation>
    </message>
    <message>
        <source>Reset password</source>
        <translation>重置密码</translation>
    </message>
    <message>
        <source>New password:</source>
        <translation>新密码：</translation>
    </message>
    <message>
        <source>The password was reset; the user&apos;s sessions ended.</source>
        <translation>密码已重置；该用户的会话已结束。</translation>
    </message>
    <message>
        <source>Change role</source>
        <translation>更改角色</translation>
    </message>
    <message>
        <source>The role was changed; the user&apos;s sessions ended.</source>
        <translation>角色已更改；该用户的会话已结束。</translation>
    </message>
    <message>
        <source>Limits</source>
        <translation>限额</translation>
    </message>
    <message>
        <source>unlimited</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>Requests per minute:</source>
        <translation>每分钟请求数：</translation>
    </message>
    <message>
        <source>Tokens per minute:</source>
        <translation>每分钟词元数：</translation>
    </message>
    <message>
        <source>Concurrent streams:</source>
        <translation>并发流数：</translation>
    </message>
    <message>
        <source>Limits saved.</source>
        <translation>限额已保存。</translation>
    </message>
    <message>
        <source>New API key</source>
        <translation>新建接口密钥</translation>
    </message>
    <message>
        <source>Key name:</source>
        <translation>密钥名称：</translation>
    </message>
    <message>
        <source>at least 12 characters, not containing the name</source>
        <translation>至少 12 个字符，且不包含用户名</translation>
    </message>
    <message>
        <source>Select a user first.</source>
        <translation>请先选择一个用户。</translation>
    </message>
    <message>
        <source>Deleted the user %1</source>
        <translation>已删除用户 %1</translation>
    </message>
    <message>
        <source>never</source>
        <translation>永不过期</translation>
    </message>
    <message>
        <source>Owner:</source>
        <translation>所有者：</translation>
    </message>
    <message>
        <source>you</source>
        <translation>您本人</translation>
    </message>
    <message>
        <source>Expires after days:</source>
        <translation>有效天数：</translation>
    </message>
    <message>
        <source>A key needs a name.</source>
        <translation>密钥需要一个名称。</translation>
    </message>
    <message>
        <source>Select a key to revoke first.</source>
        <translation>请先选择要吊销的密钥。</translation>
    </message>
    <message>
        <source>Revoked the key %1</source>
        <translation>已吊销密钥 %1</translation>
    </message>
</context>
</TS>
