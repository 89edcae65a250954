using System.Diagnostics;
using System.Reflection;
using System.Text;
using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>
/// The distro guest end to end: the sample samples/DistroGuest.Xunit (Debian 12 + systemd on a qcow2 disk, an e1000
/// NIC) runs as a user runs it, keeping every test's bundle (QEMUTESTKIT_KEEP=all), and every kept bundle replays
/// identical through <c>qemutestkit replay</c>. The sample runs once for the class (several minutes under TCG on
/// 2 cores); the tests read that run.
/// </summary>
public sealed class DistroGuestEndToEndTests(DistroGuestEndToEndTests.SampleRun run) : IClassFixture<DistroGuestEndToEndTests.SampleRun>
{
    /// <summary>The sample's tests (one bundle each; the test with two machines keeps two).</summary>
    private static readonly string[] SampleTests =
    [
        "Systemd_reaches_running",
        "A_command_with_a_pager_shows_its_output",
        "The_root_is_the_ext4_disk",
        "A_file_written_to_the_disk_reads_back_after_dropping_the_caches",
        "Every_machine_starts_from_the_unwritten_disk",
        "The_network_comes_up_with_the_user_network_address",
    ];

    [Fact]
    public async Task The_sample_passes_and_keeps_a_bundle_for_every_test()
    {
        var result = await run.Result;

        result.ExitCode.Should().Be(0, result.Output);
        var names = result.Bundles.Select(Path.GetFileName).ToArray();
        foreach (var test in SampleTests)
        {
            names.Should().Contain(n => n!.Contains(test, StringComparison.Ordinal), $"QEMUTESTKIT_KEEP=all keeps {test}'s bundle");
        }
    }

    [Fact]
    public async Task Every_kept_bundle_replays_identical()
    {
        var result = await run.Result;
        result.Bundles.Should().NotBeEmpty(result.Output);

        var report = new StringBuilder();
        var identical = 0;
        foreach (var bundle in result.Bundles)
        {
            // A replay takes about as long as its recording; QEMU's own stall detection ends a stuck one.
            var replay = await CliRunner.RunAsync(["replay", bundle, "--timeout", "600"], run.CacheDir, TimeSpan.FromMinutes(12),
                cancellationToken: TestContext.Current.CancellationToken);
            if (replay.ExitCode == 0 && replay.Stdout.Contains("replay: identical", StringComparison.Ordinal))
            {
                identical++;
            }
            else
            {
                report.Append(Path.GetFileName(bundle)).Append(": ").AppendLine(replay.ToString());
            }
        }

        report.ToString().Should().BeEmpty($"every kept bundle should replay identical ({identical} of {result.Bundles.Count} did)");
        identical.Should().Be(result.Bundles.Count);
    }

    [Fact]
    public async Task Every_kept_bundle_holds_its_disk_base_packed_not_copied()
    {
        var result = await run.Result;
        result.Bundles.Should().NotBeEmpty(result.Output);
        foreach (var bundle in result.Bundles)
        {
            var manifest = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "bundle.json"), TestContext.Current.CancellationToken))!;
            var baseImage = new FileInfo(manifest["spec"]!["disks"]![0]!["path"]!.GetValue<string>());
            // The sample's root disk is writable: its 141 MB base packs to about a third (was copied whole).
            var disks = Path.Combine(bundle, "disks");
            Directory.GetFiles(disks, "*.base").Should().BeEmpty($"{bundle} copied a disk base instead of packing it");
            var packed = Directory.GetFiles(disks, "*.base.pack");
            packed.Should().ContainSingle($"{bundle} holds the root disk's base packed");
            new FileInfo(packed[0]).Length.Should().BeLessThan(baseImage.Length / 2, $"the packed base of {bundle} should be well under the {baseImage.Length} bytes of {baseImage.FullName}");
        }
    }

    [Fact]
    public async Task No_QEMU_outlives_the_sample()
    {
        await run.Result;

        var left = QemuUnder(run.RunRoot);

        left.Should().BeEmpty("every machine of the sample ends with its test");
    }

    private static string[] QemuUnder(string runRoot) =>
        Directory.GetDirectories("/proc")
            .Select(d => Path.Combine(d, "cmdline"))
            .Select(f =>
            {
                try
                {
                    return File.ReadAllText(f).Replace('\0', ' ');
                }
                catch (IOException)
                {
                    return string.Empty;
                }
                catch (UnauthorizedAccessException)
                {
                    return string.Empty;
                }
            })
            .Where(c => c.Contains("qemu-system", StringComparison.Ordinal) && c.Contains(runRoot, StringComparison.Ordinal))
            .ToArray();

    /// <summary>One run of the built sample with every bundle kept, in a private directory.</summary>
    public sealed class SampleRun : IDisposable
    {
        private static readonly string Configuration =
            typeof(SampleRun).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

        private readonly TempDirectory _temp = new();
        private readonly Lazy<Task<Outcome>> _result;

        public SampleRun() => _result = new Lazy<Task<Outcome>>(RunAsync);

        public sealed record Outcome(int ExitCode, string Output, IReadOnlyList<string> Bundles);

        public Task<Outcome> Result => _result.Value;

        public string CacheDir => Path.Combine(_temp.Path, "cache");

        public string RunRoot => Path.Combine(_temp.Path, "run");

        public void Dispose() => _temp.Dispose();

        private async Task<Outcome> RunAsync()
        {
            var root = RepositoryRoot();
            var guest = Environment.GetEnvironmentVariable("QEMUTESTKIT_DISTRO_GUEST") is { Length: > 0 } variable
                ? variable
                : Path.Combine(root, "artifacts", "distro-guest", "guest.json");
            File.Exists(guest).Should().BeTrue($"the distro guest must be built ({guest} is missing): run ./build.sh setup (as root: it uses debootstrap)");
            var application = Path.Combine(root, "samples", "DistroGuest.Xunit", "bin", Configuration, "net10.0", "DistroGuest.Xunit.dll");
            File.Exists(application).Should().BeTrue(
                $"the sample must be built ({application} is missing): run ./build.sh setup, then dotnet build samples/DistroGuest.Xunit -c {Configuration}");

            var bundles = Path.Combine(_temp.Path, "bundles");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            // The sample's own entry point (xunit.v3's console runner: the sample does not opt into the testing platform's
            // command line outside dotnet test); the bundles go to QEMUTESTKIT_BUNDLE_DIR.
            start.ArgumentList.Add("exec");
            start.ArgumentList.Add(application);

            start.Environment["QEMUTESTKIT_KEEP"] = "all";
            start.Environment["QEMUTESTKIT_BUNDLE_DIR"] = bundles;
            start.Environment["QEMUTESTKIT_RUN_ROOT"] = RunRoot;
            var output = new StringBuilder();
            using var process = new Process { StartInfo = start };
            void Append(object? sender, DataReceivedEventArgs e)
            {
                if (e.Data is not null)
                {
                    lock (output)
                    {
                        output.AppendLine(e.Data);
                    }
                }
            }

            process.OutputDataReceived += Append;
            process.ErrorDataReceived += Append;
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            // Seven machines of a full distribution under TCG on a loaded 2-core host: minutes, with a wide margin.
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(20));
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"the distro sample did not end within 20 minutes:\n{Text(output)}");
            }

            process.WaitForExit();
            var kept = Directory.Exists(bundles) ? Directory.GetDirectories(bundles, "*.qtkreplay").Order(StringComparer.Ordinal).ToArray() : [];
            return new Outcome(process.ExitCode, Text(output), kept);
        }

        private static string Text(StringBuilder output)
        {
            lock (output)
            {
                return output.ToString();
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
}
