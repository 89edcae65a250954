using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Validation;

/// <summary>
/// Near misses for machine types. Versioned machines come in families (pc-q35-2.4 ... pc-q35-7.2): a spec that names a
/// version this binary lacks, or a mistyped family, is best answered with the family's current member and its alias,
/// not with whichever old version happens to be one edit away.
/// </summary>
internal static partial class MachineTypeSuggestions
{
    public static IReadOnlyList<string> Suggest(string found, QemuCatalog catalog)
    {
        if (string.IsNullOrWhiteSpace(found))
        {
            return [];
        }

        var limit = NearMiss.Limit(found);
        var foundFamily = Family(found);
        return catalog.Machines
            .GroupBy(m => Family(m.Name), StringComparer.Ordinal)
            .Select(family => (Family: family.Key, Current: Current(family), Score: Score(found, foundFamily, family)))
            .Where(f => f.Score <= limit)
            .OrderBy(f => f.Score)
            .ThenBy(f => f.Family, StringComparer.Ordinal)
            .SelectMany(f => f.Current.Alias is { } alias ? new[] { f.Current.Name, alias } : [f.Current.Name])
            .Take(NearMiss.MaxSuggestions)
            .ToArray();
    }

    private static int Score(string found, string foundFamily, IEnumerable<MachineType> family)
    {
        var members = family.ToArray();
        var byName = members.SelectMany(m => m.Alias is { } alias ? new[] { m.Name, alias } : [m.Name])
            .Min(name => NearMiss.Distance(found, name));
        return Math.Min(byName, NearMiss.Distance(foundFamily, Family(members[0].Name)));
    }

    // The member to recommend: the one QEMU aliases (the newest), else the default, else the highest version not deprecated.
    private static MachineType Current(IEnumerable<MachineType> family) =>
        family.OrderByDescending(m => m.Alias is not null)
            .ThenByDescending(m => m.IsDefault)
            .ThenBy(m => m.Deprecated)
            .ThenByDescending(m => VersionOf(m.Name))
            .First();

    private static string Family(string name) => VersionSuffix().Replace(name, string.Empty);

    private static Version VersionOf(string name)
    {
        var match = VersionSuffix().Match(name);
        return match.Success && Version.TryParse(match.Value[1..], out var version) ? version : new Version(0, 0);
    }

    [GeneratedRegex(@"-\d+(\.\d+)+$")]
    private static partial Regex VersionSuffix();
}
