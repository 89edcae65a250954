using System.Globalization;
using System.Reflection;
using System.Text;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Fixtures.Testing;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Fixtures.Host;

/// <summary>
/// What happens to a machine when its test ends: it is stopped, and its recording is either deleted or kept as a
/// replay bundle under the results directory, attached to the test with the exact commands that replay it.
/// </summary>
internal sealed class BundleKeeper
{
    private readonly FixtureSettings _settings;
    private readonly string _bundleRoot;
    private readonly string? _project;
    private readonly string? _configuration;
    private readonly bool _underVSTest;

    /// <param name="project">The test project file (absolute), from the build's manifest.</param>
    /// <param name="configuration">The configuration the project was built in, from the build's manifest.</param>
    /// <param name="underVSTest">The tests run in VSTest's testhost, whose <c>dotnet test</c> takes other arguments.</param>
    public BundleKeeper(FixtureSettings settings, string bundleRoot, string? project, string? configuration, bool underVSTest)
    {
        _settings = settings;
        _bundleRoot = bundleRoot;
        _project = project;
        _configuration = configuration;
        _underVSTest = underVSTest;
    }

    /// <summary>True in VSTest's testhost (a test project without Microsoft.Testing.Platform's <c>dotnet test</c>).</summary>
    public static bool RunsUnderVSTest => Assembly.GetEntryAssembly()?.GetName().Name is "testhost";

    public string BundleRoot => _bundleRoot;

    public async Task EndAsync(GuestMachine machine, TestOutcome outcome, string? failureMessage)
    {
        var test = machine.Test;
        var keep = machine.IsRecording && machine.Replay is null && _settings.Keep switch
        {
            KeepPolicy.All => true,
            KeepPolicy.Failed => outcome == TestOutcome.Failed,
            _ => false,
        };
        try
        {
            if (!keep)
            {
                if (machine.Replay is { } replay)
                {
                    test.WriteLine(Verdict(machine, replay));
                }

                return;
            }

            var bundle = await machine.Machine.KeepAsBundleAsync(BundlePath(test, machine),
                new BundleTest(test.TestName, outcome.ToString(), failureMessage), CancellationToken.None).ConfigureAwait(false);
            test.Attach(Path.Combine(bundle, "bundle.json"), $"replay bundle of machine '{machine.Name}'");
            var transcript = Path.Combine(bundle, "console.log");
            if (File.Exists(transcript))
            {
                test.Attach(transcript, $"console of machine '{machine.Name}'");
            }

            // The runtime puts the final screen of a machine with a display into the bundle while QEMU still runs.
            var screen = Path.Combine(bundle, "screenshots", "final.png");
            if (File.Exists(screen))
            {
                test.Attach(screen, $"display of machine '{machine.Name}' when the test ended");
            }

            foreach (var line in KeptLines(test, machine, bundle))
            {
                test.WriteLine(line);
            }
        }
        catch (Exception e) when (e is QemuTestKitException or IOException or UnauthorizedAccessException)
        {
            test.WriteLine($"qemutestkit: the recording of machine '{machine.Name}' could not be kept: {e.Message}");
        }
        finally
        {
            machine.ReleaseSlot();
            await machine.Machine.DisposeAsync().ConfigureAwait(false);
            if (machine.Replay is { } session)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The lines a failing test's output gets: where the bundle is and the two ways to replay it.</summary>
    internal IEnumerable<string> KeptLines(ITestScope test, GuestMachine machine, string bundle)
    {
        var from = machine.Checkpoints.Count > 0 && ReplayLimits.FromCheckpoint(machine.Machine.Spec) is null ? $" --from {Quote(machine.Checkpoints[^1].Name)}" : string.Empty;
        yield return $"qemutestkit: kept the recording of machine '{machine.Name}': {bundle}";
        yield return $"qemutestkit: replay it:  qemutestkit replay {Quote(bundle)}{from}";
        yield return "qemutestkit: run this test against it:  " + RerunCommand(test, bundle);
    }

    /// <summary>
    /// A command that works pasted into any shell: it goes into the project's directory first, because that is where
    /// <c>dotnet test</c> finds the global.json that puts it on Microsoft.Testing.Platform (elsewhere it takes VSTest's
    /// arguments and rejects <c>--project</c>), and every path in it is absolute.
    /// </summary>
    private string RerunCommand(ITestScope test, string bundle)
    {
        if (_underVSTest)
        {
            return "needs dotnet test on Microsoft.Testing.Platform (this run is VSTest's): add \"test\": { \"runner\": \"Microsoft.Testing.Platform\" } to the global.json next to the solution (docs/fixtures.md)";
        }

        var configuration = _configuration is { Length: > 0 } c ? " -c " + Quote(c) : string.Empty;
        var filter = string.Join(' ', test.FilterArguments.Select(Quote));
        var variable = $"{FixtureSettings.ReplayVariable}={Quote(Path.GetFullPath(bundle))}";
        return _project is null
            ? $"{variable} dotnet test{configuration} {filter}"
            : $"cd {Quote(Path.GetDirectoryName(_project)!)} && {variable} dotnet test --project {Quote(Path.GetFileName(_project))}{configuration} {filter}";
    }

    private static string Verdict(GuestMachine machine, ReplaySession replay)
    {
        // The console may start with the recording's output before the checkpoint (ConsoleOffset 0): only what QEMU
        // printed, from StartOffset on, is the replay's.
        var replayed = machine.Console.Transcript.GetBytes(replay.StartOffset - replay.ConsoleOffset);
        var expected = replay.ExpectedTranscript;
        var start = replay.StartOffset;
        for (var i = 0; i < replayed.Length && start + i < expected.Length; i++)
        {
            if (replayed[i] != expected[start + i])
            {
                return string.Create(CultureInfo.InvariantCulture, $"qemutestkit: replay of machine '{machine.Name}' diverged at byte {start + i} of the recorded console");
            }
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"qemutestkit: replay of machine '{machine.Name}' from {replay.From}: {replayed.Length} console bytes identical to the recording");
    }

    private string BundlePath(ITestScope test, GuestMachine machine)
    {
        var name = new StringBuilder();
        foreach (var c in $"{test.TestName}.{machine.Name}")
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        }

        if (name.Length > 120)
        {
            name.Remove(0, name.Length - 120);
        }

        name.Append(string.Create(CultureInfo.InvariantCulture, $".{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}"));
        return Path.Combine(_bundleRoot, name.ToString());
    }

    internal static string Quote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '-' or '_' or ':' or '=' or ',' or '+')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
