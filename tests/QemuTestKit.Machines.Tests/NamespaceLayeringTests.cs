using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Tests;

/// <summary>
/// The namespaces of QemuTestKit.Machines depend one way: a machine's lifecycle knows nothing of bundles or replays, so
/// each can change (or ship) without the layers above it. One compiled assembly cannot enforce that, so this test reads
/// the sources: a file may name only its own namespace and those below it, in usings, qualified names and doc comments.
/// </summary>
public sealed partial class NamespaceLayeringTests
{
    /// <summary>Bottom first; each namespace (a top-level folder) may use those before it. Manifest and Recording are side by side.</summary>
    private static readonly string[][] Layers =
    [
        ["Specs"],
        ["CommandLine"],
        ["Validation"],
        ["Console"],
        ["Runtime"],
        ["Manifest", "Recording"],
        ["Bundles"],
        ["Replay"],
    ];

    /// <summary>Known upward uses, each to be removed rather than added to: none left.</summary>
    private static readonly HashSet<(string File, string Namespace)> Allowed = [];

    [Fact]
    public void Every_namespace_has_a_layer()
    {
        var folders = Directory.GetDirectories(SourceRoot()).Select(d => Path.GetFileName(d)).Where(f => f is not ("bin" or "obj")).ToList();

        folders.Should().BeSubsetOf(Layers.SelectMany(l => l), "a new namespace of QemuTestKit.Machines needs a place in NamespaceLayeringTests.Layers");
    }

    [Fact]
    public void No_namespace_uses_one_above_it()
    {
        var root = SourceRoot();
        var rank = Layers.SelectMany((names, i) => names.Select(n => (Name: n, Rank: i))).ToDictionary(x => x.Name, x => x.Rank);
        var typesOf = rank.Keys.ToDictionary(n => n, n => DeclaredTypes(Path.Combine(root, n)));
        var offences = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            var layer = relative.Split('/')[0];
            if (!rank.TryGetValue(layer, out var own))
            {
                continue;
            }

            var lines = File.ReadAllLines(file);
            foreach (var other in rank.Keys.Where(n => n != layer && rank[n] >= own && !Allowed.Contains((relative, n))))
            {
                var qualified = new Regex($@"QemuTestKit\.Machines\.{other}\b(\.(?<type>[A-Z]\w*))?");
                // From inside QemuTestKit.Machines.X, "Other.Type" names QemuTestKit.Machines.Other.Type.
                var partial = new Regex($@"(?<![\w.]){other}\.(?<type>[A-Z]\w*)");
                for (var i = 0; i < lines.Length; i++)
                {
                    foreach (Match m in qualified.Matches(lines[i]))
                    {
                        offences.Add($"{relative}:{i + 1} uses QemuTestKit.Machines.{other}{(m.Groups["type"].Success ? "." + m.Groups["type"].Value : "")}");
                    }

                    foreach (Match m in partial.Matches(lines[i]))
                    {
                        if (typesOf[other].Contains(m.Groups["type"].Value))
                        {
                            offences.Add($"{relative}:{i + 1} uses {other}.{m.Groups["type"].Value}");
                        }
                    }
                }
            }
        }

        offences.Should().BeEmpty("namespaces depend one way ({0}); move the type down or the code up",
            string.Join(" <- ", Layers.Select(l => string.Join("|", l))));
    }

    private static HashSet<string> DeclaredTypes(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
                .SelectMany(f => TypeDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value))
                .ToHashSet(StringComparer.Ordinal)
            : [];

    private static string SourceRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QemuTestKit.sln")))
            {
                return Path.Combine(dir.FullName, "src", "QemuTestKit.Machines");
            }
        }

        throw new InvalidOperationException($"no QemuTestKit.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"\b(class|record|struct|interface|enum)\s+(?<name>[A-Z]\w*)")]
    private static partial Regex TypeDeclaration();
}
