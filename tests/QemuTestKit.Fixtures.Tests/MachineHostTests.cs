using System.Text.Json.Nodes;
using QemuTestKit.Fixtures.Testing;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Fixtures.Tests;

/// <summary>
/// The framework-neutral core against the real QEMU and the test guest, with a test scope that records what the
/// adapters would pass to xunit or MSTest. One host for the class: its ready state is prepared once (the manifest has
/// none), and it runs one machine at a time.
/// </summary>
public sealed class MachineHostTests(MachineHostTests.Host host) : IClassFixture<MachineHostTests.Host>
{
    [Fact]
    public async Task A_passing_tests_machine_is_stopped_and_its_recording_deleted()
    {
        var test = new RecordingScope("passes");
        var guest = await host.Machines.StartAsync(test, "hello", cancellationToken: TestContext.Current.CancellationToken);
        var runDirectory = guest.Machine.RunDirectoryPath;
        var pid = guest.Machine.ProcessId;
        guest.IsRecording.Should().BeTrue();
        (await guest.ExecAsync("echo hi", cancellationToken: TestContext.Current.CancellationToken)).Output.Should().Be("hi");

        await host.Machines.EndTestAsync(test, TestOutcome.Passed);

        File.Exists($"/proc/{pid}/cmdline").Should().BeFalse("the machine stops when its test ends");
        Directory.Exists(runDirectory).Should().BeFalse("a passing test's recording is deleted");
        test.Attachments.Should().BeEmpty();
    }

    [Fact]
    public async Task A_failing_tests_recording_is_kept_as_a_bundle_with_the_commands_that_replay_it()
    {
        var test = new RecordingScope("fails");
        await using (var guest = await host.Machines.StartAsync(test, "hello", cancellationToken: TestContext.Current.CancellationToken))
        {
            await guest.ExecAsync("echo before", cancellationToken: TestContext.Current.CancellationToken);
            await guest.CheckpointAsync("middle", TestContext.Current.CancellationToken);
            await guest.ExecAsync("echo after", cancellationToken: TestContext.Current.CancellationToken);
        }

        await host.Machines.EndTestAsync(test, TestOutcome.Failed, "expected 1, got 2");

        var kept = test.Lines.Single(l => l.StartsWith("qemutestkit: kept the recording", StringComparison.Ordinal));
        var bundle = kept[(kept.IndexOf(": /", StringComparison.Ordinal) + 2)..];
        test.Lines.Should().Contain($"qemutestkit: replay it:  qemutestkit replay {bundle} --from middle");
        // Pasted anywhere, it runs in the project's directory (where global.json picks the test platform), with the
        // build's configuration and absolute paths.
        test.Lines.Should().Contain(
            $"qemutestkit: run this test against it:  cd /src/Guest.Tests && QEMUTESTKIT_REPLAY={bundle} dotnet test --project Guest.Tests.csproj -c Debug --filter-method Tests.fails");
        test.Attachments.Select(Path.GetFileName).Should().BeEquivalentTo(["bundle.json", "console.log"]);
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        opened.Manifest.Test.Should().Be(new BundleTest("Tests.fails", "Failed", "expected 1, got 2"));
        (await Replayer.ReplayAsync(opened, new ReplayOptions { FromCheckpoint = "middle" }, TestContext.Current.CancellationToken)).Identical.Should().BeTrue();
    }

    [Fact]
    public async Task Starts_beyond_the_machine_limit_wait_for_a_free_slot()
    {
        var first = new RecordingScope("first");
        var second = new RecordingScope("second");
        await host.Machines.StartAsync(first, "hello", cancellationToken: TestContext.Current.CancellationToken);

        var waiting = host.Machines.StartAsync(second, "hello", cancellationToken: TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        waiting.IsCompleted.Should().BeFalse("the host runs one machine at a time");
        await host.Machines.EndTestAsync(first, TestOutcome.Passed);

        var started = await waiting.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        (await started.ExecAsync("echo second", cancellationToken: TestContext.Current.CancellationToken)).Output.Should().Be("second");
        await host.Machines.EndTestAsync(second, TestOutcome.Passed);
        host.Machines.RunningMachines.Should().Be(0);
    }

    [Fact]
    public async Task A_machine_started_with_Record_false_is_not_recorded_and_keeps_nothing()
    {
        var test = new RecordingScope("unrecorded");
        var guest = await host.Machines.StartAsync(test, "hello", new MachineOptions { Record = false }, TestContext.Current.CancellationToken);

        guest.IsRecording.Should().BeFalse();
        (await guest.CheckpointAsync("nothing", TestContext.Current.CancellationToken)).Should().BeNull();
        await host.Machines.EndTestAsync(test, TestOutcome.Failed, "boom");
        test.Lines.Should().NotContain(l => l.Contains("kept the recording", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_machine_names_the_declared_ones()
    {
        var act = () => host.Machines.StartAsync(new RecordingScope("unknown"), "goodbye", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<FixtureException>()).WithMessage("no machine 'goodbye' in *; the project declares: hello");
        host.Machines.RunningMachines.Should().Be(0, "a failed start gives its slot back");
    }

    /// <summary>A manifest with the test guest and no prepared state, and a host over it.</summary>
    public sealed class Host : IAsyncLifetime
    {
        private readonly string _root = Directory.CreateTempSubdirectory("qtk-host-").FullName;

        public MachineHost Machines { get; private set; } = null!;

        public string Bundles => Path.Combine(_root, "bundles");

        public ValueTask InitializeAsync()
        {
            var guest = TestGuest.Load();
            var manifest = Path.Combine(_root, "qemutestkit.machines.json");
            File.WriteAllText(manifest, new JsonObject
            {
                ["schemaVersion"] = 1,
                ["project"] = "/src/Guest.Tests/Guest.Tests.csproj",
                ["configuration"] = "Debug",
                ["machines"] = new JsonArray(new JsonObject
                {
                    ["name"] = "hello",
                    ["prepare"] = false,
                    ["spec"] = new JsonObject
                    {
                        ["name"] = "hello",
                        ["machineType"] = "q35",
                        ["cpu"] = "max",
                        ["memoryMiB"] = 256,
                        ["kernel"] = guest.Kernel,
                        ["initrd"] = guest.Initrd,
                        ["append"] = guest.Append,
                        ["ready"] = new JsonObject { ["pattern"] = guest.ReadyPattern, ["timeoutSeconds"] = 120 },
                    },
                }),
            }.ToJsonString());
            Machines = new MachineHost(new FixtureSettings { MaxMachines = 1, BundleDirectory = Bundles }, manifest, runRoot: Path.Combine(_root, "run"));
            return ValueTask.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await Machines.DisposeAsync();
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>What an adapter would hand to its framework: lines of output and attached files.</summary>
    private sealed class RecordingScope(string name) : ITestScope
    {
        public List<string> Lines { get; } = [];

        public List<string> Attachments { get; } = [];

        public string Key { get; } = $"{name}-{Guid.NewGuid():N}";

        public string TestName => $"Tests.{name}";

        public CancellationToken CancellationToken => TestContext.Current.CancellationToken;

        public IReadOnlyList<string> FilterArguments => ["--filter-method", TestName];

        public void WriteLine(string line) => Lines.Add(line);

        public void Attach(string path, string description) => Attachments.Add(path);
    }
}
