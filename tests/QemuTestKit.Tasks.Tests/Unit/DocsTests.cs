using System.Text.RegularExpressions;
using System.Xml.Linq;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.Unit;

/// <summary>docs/errors.md documents every QTK2xxx code; docs/msbuild.md every item, metadata, property and target.</summary>
public sealed partial class DocsTests
{
    private static readonly Lazy<string> Errors = new(() => File.ReadAllText(Path.Combine(ProductFeed.RepositoryRoot(), "docs", "errors.md")));
    private static readonly Lazy<string> MSBuildDocs = new(() => File.ReadAllText(Path.Combine(ProductFeed.RepositoryRoot(), "docs", "msbuild.md")));

    public static TheoryData<string> Codes => new(TaskErrorCodes.All.Select(c => c.Code));

    [Theory]
    [MemberData(nameof(Codes))]
    public void Every_code_has_a_table_row_and_a_section(string code)
    {
        var (title, severity) = (TaskErrorCodes.Find(code).Title, TaskErrorCodes.Find(code).Severity);
        var lines = Errors.Value.Split('\n');

        lines.Should().Contain(l => l.StartsWith($"| [{code}](#", StringComparison.Ordinal) && l.Contains($"| {title} | {severity} |", StringComparison.Ordinal));
        lines.Should().Contain($"### {code}: {title}");
        var start = Errors.Value.IndexOf($"### {code}:", StringComparison.Ordinal);
        var end = Errors.Value.IndexOf("\n### ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? Errors.Value[start..] : Errors.Value[start..end];
        section.Should().Contain("**Trigger:**").And.Contain("**Example:**").And.Contain("**Fix:**");
    }

    [Fact]
    public void Codes_are_in_the_msbuild_range_and_unique()
    {
        TaskErrorCodes.All.Select(c => c.Code).Should().OnlyHaveUniqueItems().And.OnlyContain(c => c.StartsWith("QTK2", StringComparison.Ordinal));
    }

    public static TheoryData<string, string> Metadata => new(
        new[] { ItemTypes.Machine, ItemTypes.Disk, ItemTypes.Nic, ItemTypes.Device }.SelectMany(t => ItemTypes.KnownMetadata(t).Select(m => (t, m))));

    [Theory]
    [MemberData(nameof(Metadata))]
    public void Every_metadata_is_documented_in_its_item_section(string itemType, string metadata)
    {
        var start = MSBuildDocs.Value.IndexOf($"### {itemType}", StringComparison.Ordinal);
        start.Should().BeGreaterThanOrEqualTo(0, $"docs/msbuild.md has a section '### {itemType}'");
        var end = MSBuildDocs.Value.IndexOf("\n### ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? MSBuildDocs.Value[start..] : MSBuildDocs.Value[start..end];
        section.Should().Contain($"| `{metadata}` |");
    }

    [Fact]
    public void Every_public_property_and_target_of_the_targets_is_documented()
    {
        var targets = XDocument.Load(Path.Combine(ProductFeed.RepositoryRoot(), "src", "QemuTestKit.Tasks", "build", "QemuTestKit.Tasks.targets"));
        var props = XDocument.Load(Path.Combine(ProductFeed.RepositoryRoot(), "src", "QemuTestKit.Tasks", "build", "QemuTestKit.Tasks.props"));
        var names = targets.Descendants("Target").Select(t => t.Attribute("Name")!.Value)
            .Concat(targets.Descendants("PropertyGroup").Concat(props.Descendants("PropertyGroup")).Elements().Select(e => e.Name.LocalName))
            .Concat(PropertyReferences().Matches(targets.ToString()).Select(m => m.Groups[1].Value))
            .Where(n => n.StartsWith("QemuTestKit", StringComparison.Ordinal))
            .Distinct()
            .ToArray();

        names.Should().Contain(["QemuTestKitBuild", "QemuTestKitPrepare", "QemuTestKitValidate", "QemuTestKitCacheDirectory"]);
        foreach (var name in names)
        {
            MSBuildDocs.Value.Should().Contain($"`{name}`", $"{name} is part of the MSBuild surface");
        }
    }

    [Fact]
    public void The_targets_register_a_machines_files_for_clean_by_the_machine_name_rule_the_check_enforces()
    {
        // Declared names the check accepts are exactly those whose state files dotnet clean removes.
        var targets = File.ReadAllText(Path.Combine(ProductFeed.RepositoryRoot(), "src", "QemuTestKit.Tasks", "build", "QemuTestKit.Tasks.targets"));

        targets.Should().Contain($"IsMatch('%(Identity)', '{QemuTestKit.Machines.Specs.MachineNames.Pattern}')");
    }

    [GeneratedRegex(@"\$\((QemuTestKit\w+)\)")]
    private static partial Regex PropertyReferences();
}
