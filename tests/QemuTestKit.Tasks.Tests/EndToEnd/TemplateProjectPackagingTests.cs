using System.Collections;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>
/// The README's "Use it in your project", done as a user does it and taken from the README itself: its nuget.config
/// commands (pointed at the local feed packed from this build), its global.json, its shell lines (dotnet new, rm,
/// dotnet add package), its QemuMachine item and its test code, then dotnet build and the README's dotnet test.
/// Each fresh project costs about a minute on two cores, so one run per framework holds both the README's passing
/// guest test and a failing one added next to it.
/// </summary>
/// <remarks>
/// The run's nuget.config above the projects (<see cref="ProductFeed"/>) names its sources as the README's does and
/// maps QemuTestKit.* to the local one; the README's nuget.config clears the sources, so the packages come through
/// the source it adds. NUGET_PACKAGES keeps the packages folder private.
/// </remarks>
public sealed partial class TemplateProjectPackagingTests(ProductFeed feed)
{
    private const string Passing = "The_guest_runs_Linux";
    private const string Failing = "The_guest_fails_on_purpose";
    private const string GuestPlaceholder = "/path/to/qemutestkit/artifacts/guest/";

    private static readonly Lazy<string> Section = new(() =>
    {
        var readme = File.ReadAllText(Path.Combine(ProductFeed.RepositoryRoot(), "README.md"));
        var start = readme.IndexOf("## Use it in your project", StringComparison.Ordinal);
        start.Should().BeGreaterThanOrEqualTo(0, "the README has a section 'Use it in your project'");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    });

    [Fact]
    public void The_READMEs_pack_line_packs_every_package_and_its_machine_has_the_guests_command_line()
    {
        var pack = Blocks("sh").Single(b => b.Contains("dotnet pack", StringComparison.Ordinal));
        var names = PackLoop().Match(pack).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => "QemuTestKit." + n);
        names.Should().BeEquivalentTo(ProductFeed.PackedProjects);

        Machine().Attribute("Append")!.Value.Should().Be(feed.GuestAppend, "the README's machine boots the test guest with the command line it is built for");
        Machine().Attribute("ReadyPattern")!.Value.Should().Be(feed.GuestReadyPattern);
    }

    [Fact]
    public async Task A_dotnet_new_mstest_project_passes_a_guest_test_and_keeps_the_failing_ones_bundle_next_to_its_TRX()
    {
        var project = await CreateAsync("mstest", "dotnet new mstest", "QemuTestKit.Fixtures.MSTest");
        File.WriteAllText(Path.Combine(project, "FailingGuestTests.cs"), $$"""
            using QemuTestKit.Fixtures.MSTest;

            namespace GuestTests;

            [TestClass]
            public sealed class FailingGuestTests : QemuTestClass
            {
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
        // No xunit.v3 template comes with the SDK (and xunit.v3.templates is not served here): the README starts from
        // a class library with the xunit.v3 package, which QemuTestKit.Fixtures.Xunit makes an executable.
        var project = await CreateAsync("xunit", "dotnet new classlib", "QemuTestKit.Fixtures.Xunit");
        File.WriteAllText(Path.Combine(project, "FailingGuestTests.cs"), $$"""
            using QemuTestKit.Fixtures.Xunit;
            using Xunit;

            namespace GuestTests;

            public sealed class FailingGuestTests(QemuFixture qemu) : IClassFixture<QemuFixture>
            {
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

    /// <summary>Steps 2 to 6 of the README for one framework; returns the project's directory.</summary>
    private async Task<string> CreateAsync(string name, string newCommand, string fixturePackage)
    {
        var directory = Path.Combine(feed.ProjectsDirectory, $"readme-{name}");
        Directory.CreateDirectory(directory);
        var nugetConfig = Blocks("sh").Single(b => b.Contains("dotnet nuget add source", StringComparison.Ordinal));
        await RunScriptAsync(directory, nugetConfig.Replace("~/qtk-feed", feed.Feed, StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(directory, "global.json"), Blocks("json").Single(b => b.Contains("\"runner\"", StringComparison.Ordinal)));
        directory = await RunScriptAsync(directory, Blocks("sh").Single(b => b.Contains(newCommand, StringComparison.Ordinal)));

        var file = Directory.GetFiles(directory, "*.csproj").Single();
        var document = XDocument.Load(file);
        var machine = Machine();
        foreach (var path in new[] { "Kernel", "Initrd" })
        {
            machine.SetAttributeValue(path, machine.Attribute(path)!.Value.Replace(GuestPlaceholder, feed.GuestDirectory + "/", StringComparison.Ordinal));
        }

        document.Root!.Add(new XElement("ItemGroup", machine));
        document.Save(file);
        File.WriteAllText(Path.Combine(directory, "HelloGuestTests.cs"), Blocks("csharp").Single(b => b.Contains($"using {fixturePackage};", StringComparison.Ordinal)));
        return directory;
    }

    /// <summary>Runs the README's shell lines one by one: cd, rm, and dotnet commands (without trailing comments).</summary>
    /// <returns>The directory the lines end in.</returns>
    private async Task<string> RunScriptAsync(string directory, string script)
    {
        foreach (var line in script.Split('\n').Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (words[0])
            {
                case "cd":
                    directory = Path.Combine(directory, words[1]);
                    break;
                case "rm":
                    File.Delete(Path.Combine(directory, words[1]));
                    break;
                case "dotnet":
                    var result = await feed.RunAsync(directory, words[1..], TimeSpan.FromMinutes(4), environment: CleanEnvironment());
                    result.Succeeded.Should().BeTrue(result.ToString());
                    break;
                default:
                    throw new InvalidOperationException($"the README's line '{line}' is not one this test knows how to run");
            }
        }

        return directory;
    }

    private static XElement Machine()
    {
        var item = Blocks("xml").Single(b => b.Contains("<QemuMachine", StringComparison.Ordinal));
        return XElement.Parse(item).Element("QemuMachine")!;
    }

    private static string[] Blocks(string language) =>
        CodeBlock().Matches(Section.Value).Where(m => m.Groups[1].Value == language).Select(m => m.Groups[2].Value).ToArray();

    private async Task BuildAndTestAsync(string project)
    {
        var build = await feed.RunAsync(project, ["build", .. GeneratedProject.BuildFlags], TimeSpan.FromMinutes(6), environment: CleanEnvironment());
        build.Succeeded.Should().BeTrue(build.ToString());
        build.Lines.Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Should()
            .BeEmpty("a project made the README's way builds without warnings (no NU1608, no xUnit1051)\n{0}", build);
        using (var assets = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(project, "obj", "project.assets.json"))))
        {
            var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name).ToArray();
            libraries.Should().Contain(l => l.StartsWith("QemuTestKit.Fixtures/", StringComparison.Ordinal));
            libraries.Should().NotContain(l => l.StartsWith("Testcontainers", StringComparison.Ordinal) || l.StartsWith("Docker.DotNet", StringComparison.Ordinal),
                "a project that runs its machines locally pulls no container client (QemuTestKit.Fixtures.Containers brings it, for Host=\"container\")");
        }


        // The README's command, after the build above.
        var command = Blocks("sh").Single(b => b.TrimStart().StartsWith("dotnet test", StringComparison.Ordinal)).Trim().Split(' ')[1..];
        var test = await feed.RunAsync(project, [.. command, "--no-build"], TimeSpan.FromMinutes(6), environment: CleanEnvironment());
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

    [GeneratedRegex(@"^```(\w+)\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"for p in ([\w. ]+); do")]
    private static partial Regex PackLoop();
}
