using System.Collections;
using System.Xml.Linq;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>
/// The README's "Use it in your project", done as a user does it: a project made by <c>dotnet new</c>, the packages
/// added with <c>dotnet add package</c> from the local feed of this build, the README's global.json, QemuMachine item
/// and test code, then <c>dotnet build</c> and <c>dotnet test</c>. Each fresh project costs about a minute on two
/// cores, so one run per framework holds both a passing and a failing guest test.
/// </summary>
/// <remarks>
/// The feed itself comes from the run's nuget.config above the projects (<see cref="ProductFeed"/>), which also keeps
/// the packages folder private; the README's nuget.config only adds the same local source.
/// </remarks>
public sealed class TemplateProjectPackagingTests(ProductFeed feed)
{
    private const string Passing = "The_guest_runs_Linux";
    private const string Failing = "The_guest_runs_Windows";

    [Fact]
    public async Task A_dotnet_new_mstest_project_passes_a_guest_test_and_keeps_the_failing_ones_bundle_next_to_its_TRX()
    {
        var solution = NewSolutionDirectory("mstest");
        await RunAsync(solution, "new", "mstest", "-n", "GuestTests", "-o", "GuestTests");
        var project = Path.Combine(solution, "GuestTests");
        await RunAsync(project, "add", "package", "QemuTestKit.Tasks");
        await RunAsync(project, "add", "package", "QemuTestKit.Fixtures.MSTest");
        AddMachine(project);
        File.WriteAllText(Path.Combine(project, "HelloGuestTests.cs"), $$"""
            using QemuTestKit.Fixtures.MSTest;

            namespace GuestTests;

            [TestClass]
            public sealed class HelloGuestTests : QemuTestClass
            {
                [TestMethod]
                public async Task {{Passing}}()
                {
                    await using var guest = await StartAsync("hello");
                    await guest.CheckpointAsync("booted");
                    Assert.AreEqual("Linux", (await guest.ExecAsync("uname -s")).Output);
                }

                [TestMethod]
                public async Task {{Failing}}()
                {
                    await using var guest = await StartAsync("hello");
                    Assert.AreEqual("Windows", (await guest.ExecAsync("uname -s")).Output);
                }
            }

            """);

        await BuildAndTestAsync(project);
    }

    [Fact]
    public async Task An_xunit_v3_project_passes_a_guest_test_and_keeps_the_failing_ones_bundle_next_to_its_TRX()
    {
        // No xunit.v3 template is installed with the SDK (and xunit.v3.templates is not served): the README's way is
        // a class library with the xunit.v3 package, which QemuTestKit.Fixtures.Xunit makes an executable.
        var solution = NewSolutionDirectory("xunit");
        await RunAsync(solution, "new", "classlib", "-n", "GuestTests", "-o", "GuestTests");
        var project = Path.Combine(solution, "GuestTests");
        foreach (var package in new[] { "xunit.v3", "Microsoft.Testing.Extensions.TrxReport", "QemuTestKit.Tasks", "QemuTestKit.Fixtures.Xunit" })
        {
            await RunAsync(project, "add", "package", package);
        }

        AddMachine(project);
        File.WriteAllText(Path.Combine(project, "HelloGuestTests.cs"), $$"""
            using QemuTestKit.Fixtures.Xunit;
            using Xunit;

            namespace GuestTests;

            public sealed class HelloGuestTests(QemuFixture qemu) : IClassFixture<QemuFixture>
            {
                [Fact]
                public async Task {{Passing}}()
                {
                    var ct = TestContext.Current.CancellationToken;
                    await using var guest = await qemu.StartAsync("hello", ct);
                    await guest.CheckpointAsync("booted", ct);
                    Assert.Equal("Linux", (await guest.ExecAsync("uname -s", cancellationToken: ct)).Output);
                }

                [Fact]
                public async Task {{Failing}}()
                {
                    var ct = TestContext.Current.CancellationToken;
                    await using var guest = await qemu.StartAsync("hello", ct);
                    Assert.Equal("Windows", (await guest.ExecAsync("uname -s", cancellationToken: ct)).Output);
                }
            }

            """);

        await BuildAndTestAsync(project);
    }

    // The README's global.json: .NET 10's dotnet test runs Microsoft.Testing.Platform applications only with it.
    private string NewSolutionDirectory(string name)
    {
        var directory = Path.Combine(feed.ProjectsDirectory, $"template-{name}");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "global.json"), """
            {
              "test": { "runner": "Microsoft.Testing.Platform" }
            }

            """);
        return directory;
    }

    // The README's QemuMachine item, pasted into the project file, with the test guest's files and kernel command line.
    private void AddMachine(string project)
    {
        var file = Directory.GetFiles(project, "*.csproj").Single();
        var document = XDocument.Load(file);
        document.Root!.Add(new XElement("ItemGroup", new XElement("QemuMachine",
            new XAttribute("Include", "hello"), new XAttribute("MachineType", "q35"), new XAttribute("Cpu", "max"), new XAttribute("Memory", "256M"),
            new XAttribute("Kernel", feed.Kernel), new XAttribute("Initrd", feed.Initrd), new XAttribute("Append", feed.GuestAppend),
            new XAttribute("ReadyPattern", feed.GuestReadyPattern), new XAttribute("ReadyTimeout", "120"), new XAttribute("Prepare", "true"))));
        document.Save(file);
    }

    private async Task BuildAndTestAsync(string project)
    {
        var build = await feed.RunAsync(project, ["build", .. GeneratedProject.BuildFlags], TimeSpan.FromMinutes(6), environment: CleanEnvironment());
        build.Succeeded.Should().BeTrue(build.ToString());
        build.Lines.Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Should()
            .BeEmpty("a project made the README's way builds without warnings (no NU1608, no xUnit1051)\n{0}", build);

        var test = await feed.RunAsync(project, ["test", "--no-build", "--report-trx", "--results-directory", "TestResults"], TimeSpan.FromMinutes(6),
            environment: CleanEnvironment());
        test.ExitCode.Should().Be(2, "exit code 2 is 'a test failed' (the failing test), not a crash of the test host\n{0}", test);

        var trx = Directory.GetFiles(Path.Combine(project, "TestResults"), "*.trx", SearchOption.AllDirectories).Should().ContainSingle(test.ToString()).Subject;
        var outcomes = Outcomes(trx);
        outcomes.Should().ContainSingle(o => o.Name.EndsWith(Passing, StringComparison.Ordinal)).Which.Outcome.Should().Be("Passed", test.ToString());
        outcomes.Should().ContainSingle(o => o.Name.EndsWith(Failing, StringComparison.Ordinal)).Which.Outcome.Should().Be("Failed", test.ToString());

        var results = Path.GetDirectoryName(trx)!;
        var bundles = Directory.GetDirectories(results, "*.qtkreplay", SearchOption.AllDirectories);
        bundles.Should().ContainSingle(b => Path.GetFileName(b).Contains($".{Failing}.", StringComparison.Ordinal),
            "the failing test keeps its bundle under the TestResults directory of the TRX ({0}); bundles found anywhere in the project: {1}",
            results, string.Join(", ", Directory.GetDirectories(project, "*.qtkreplay", SearchOption.AllDirectories)));
        File.Exists(Path.Combine(bundles.Single(b => Path.GetFileName(b).Contains($".{Failing}.", StringComparison.Ordinal)), "bundle.json")).Should().BeTrue();
        bundles.Should().NotContain(b => Path.GetFileName(b).Contains($".{Passing}.", StringComparison.Ordinal), "a passing test keeps nothing");
    }

    private static (string Name, string Outcome)[] Outcomes(string trx)
    {
        var document = XDocument.Load(trx);
        return document.Descendants(document.Root!.Name.Namespace + "UnitTestResult")
            .Select(r => (r.Attribute("testName")?.Value ?? string.Empty, r.Attribute("outcome")?.Value ?? string.Empty))
            .ToArray();
    }

    private async Task RunAsync(string directory, params string[] arguments)
    {
        var result = await feed.RunAsync(directory, arguments, TimeSpan.FromMinutes(4), environment: CleanEnvironment());
        result.Succeeded.Should().BeTrue(result.ToString());
    }

    // The generated project runs as a user's would: none of this test host's testing-platform or QemuTestKit settings
    // (a replay, a bundle directory) may reach it.
    private static Dictionary<string, string?> CleanEnvironment()
    {
        var removed = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry variable in System.Environment.GetEnvironmentVariables())
        {
            var key = (string)variable.Key;
            if (key.StartsWith("TESTINGPLATFORM_", StringComparison.Ordinal) || key.StartsWith("VSTEST_", StringComparison.Ordinal)
                || (key.StartsWith("QEMUTESTKIT_", StringComparison.Ordinal) && key is not ("QEMUTESTKIT_CACHE_DIR" or "QEMUTESTKIT_RUN_ROOT")))
            {
                removed[key] = null;
            }
        }

        return removed;
    }
}
