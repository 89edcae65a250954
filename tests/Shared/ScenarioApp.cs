using System.Diagnostics;
using System.Reflection;
using System.Text;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Fixtures.Tests.Scenarios;

/// <summary>
/// Runs one of the scenario test applications (tests/Scenarios) the way a user's test run does, in a private
/// directory: its own run root (so its QEMU processes can be found), bundle directory and results directory.
/// </summary>
public sealed class ScenarioApp : IDisposable
{
    private readonly string _application;

    public ScenarioApp(string project)
    {
        var configuration = typeof(ScenarioApp).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "QemuTestKit.Configuration")?.Value ?? "Debug";
        _application = Path.Combine(RepositoryRoot(), "tests", "Scenarios", project, "bin", configuration, "net10.0",
            $"QemuTestKit.Fixtures.{project}.Scenarios.dll");
        if (!File.Exists(_application))
        {
            throw new InvalidOperationException($"{_application} is missing: build the solution ({configuration}) first");
        }

        Root = Directory.CreateTempSubdirectory("qtk-scenario-").FullName;
    }

    public string Root { get; }

    public string RunRoot => Path.Combine(Root, "qemu-run");

    public string PidFile => Path.Combine(Root, "pids");

    public string CheckFile => Path.Combine(Root, "check");

    public sealed record Result(int ExitCode, string Output, string Results, string Bundles)
    {
        public string Trx => Directory.GetFiles(Results, "*.trx").Select(File.ReadAllText).SingleOrDefault() ?? string.Empty;

        public IReadOnlyList<string> KeptBundles => Directory.Exists(Bundles) ? Directory.GetDirectories(Bundles, "*.qtkreplay") : [];

        /// <summary>Anything in the bundle directory that is not a finished bundle (a half-written one would be a .tmp).</summary>
        public IReadOnlyList<string> Leftovers => Directory.Exists(Bundles)
            ? Directory.GetFileSystemEntries(Bundles).Where(e => !e.EndsWith(".qtkreplay", StringComparison.Ordinal)).ToArray()
            : [];
    }

    /// <summary>Runs the application to the end with <paramref name="arguments"/> (a filter, usually).</summary>
    public async Task<Result> RunAsync(IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string name = "run",
        bool trx = true)
    {
        using var process = Start(arguments, environment, name, out var output, out var results, out var bundles, trx);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the scenario did not end within 4 minutes:\n{output}");
        }

        process.WaitForExit();
        return new Result(process.ExitCode, Text(output), results, bundles);
    }

    /// <summary>Starts the application and returns it running (for tests that interrupt or kill it).</summary>
    /// <param name="trx">With a TRX report the testing platform runs the tests in a child process of the one started here.</param>
    public Process Start(IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, string name, out StringBuilder output,
        out string results, out string bundles, bool trx = true)
    {
        results = Path.Combine(Root, name, "results");
        bundles = Path.Combine(Root, name, "bundles");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["exec", _application, .. arguments, .. (trx ? (string[])["--report-trx"] : []), "--results-directory", results,
                     "--no-ansi", "--progress", "off"])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["QEMUTESTKIT_RUN_ROOT"] = RunRoot;
        start.Environment["QEMUTESTKIT_BUNDLE_DIR"] = bundles;
        start.Environment["QTK_PID_FILE"] = PidFile;
        start.Environment["QTK_CHECK_FILE"] = CheckFile;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var captured = new StringBuilder();
        output = captured;
        var process = new Process { StartInfo = start };
        void Append(object? _, DataReceivedEventArgs e)
        {
            if (e.Data is not null)
            {
                lock (captured)
                {
                    captured.AppendLine(e.Data);
                }
            }
        }

        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    /// <summary>The QEMU pids the scenario noted so far.</summary>
    public IReadOnlyList<int> Pids => File.Exists(PidFile)
        ? File.ReadAllLines(PidFile).Where(l => l.Length > 0).Select(l => int.Parse(l, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
        : [];

    /// <summary>QEMU processes of this scenario still running after a grace period.</summary>
    public Task<IReadOnlyList<string>> QemuLeftAsync(TimeSpan? grace = null) => QemuProcesses.LeftUnderAsync(RunRoot, grace ?? TimeSpan.FromSeconds(10));

    public async Task WaitForPidAsync(Process process, StringBuilder output, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Pids.Count == 0)
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"the scenario started no machine within {timeout.TotalSeconds:0} s:\n{Text(output)}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The process that started QEMU <paramref name="qemuPid"/>: the test host (setpriv replaced itself with QEMU).</summary>
    public static int TestHostOf(int qemuPid)
    {
        var stat = File.ReadAllText($"/proc/{qemuPid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        QemuProcesses.KillUnder(RunRoot);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "QemuTestKit.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"QemuTestKit.sln not found above {AppContext.BaseDirectory}");
    }
}
