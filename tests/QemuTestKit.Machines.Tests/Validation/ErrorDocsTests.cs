using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>docs/errors.md documents every code the validator can emit, in its table and in a section of its own.</summary>
public sealed class ErrorDocsTests
{
    private static readonly Lazy<string> Docs = new(() => File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "errors.md")));

    /// <summary>The text of docs/errors.md.</summary>
    internal static string Text => Docs.Value;

    public static TheoryData<string> Codes => new(MachineSpecErrorCodes.All.Select(c => c.Code));

    [Theory]
    [MemberData(nameof(Codes))]
    public void The_code_has_a_table_row_with_its_title_and_a_section(string code)
    {
        var (title, severity) = (MachineSpecErrorCodes.Find(code).Title, MachineSpecErrorCodes.Find(code).Severity);
        var lines = Docs.Value.Split('\n');

        lines.Should().Contain(l => l.StartsWith($"| [{code}](#", StringComparison.Ordinal) && l.Contains($"| {title} | {severity} |", StringComparison.Ordinal),
            "the table lists the code with its title and severity");
        lines.Should().Contain($"### {code}: {title}");
        Section(code).Should().Contain("**Trigger:**").And.Contain("**Example:**").And.Contain("**Fix:**");
    }

    [Fact]
    public void The_docs_reserve_the_msbuild_range()
    {
        Docs.Value.Should().Contain("QTK2");
    }

    private static string Section(string code)
    {
        var text = Docs.Value;
        var start = text.IndexOf($"### {code}:", StringComparison.Ordinal);
        var end = text.IndexOf("\n### ", start + 1, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
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
