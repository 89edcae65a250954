using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>
/// A <c>link&lt;TYPE&gt;</c> to a backend object (rng-backend, memory-backend, iothread, can-bus...): on the command line
/// its value is the id of an object the command line creates, so it must be an id the spec declares. A QOM path
/// ("/objects/rng0") or an empty value (no link) is left to QEMU.
/// </summary>
internal sealed record LinkValueType(string Name, string Target, IReadOnlyList<string> Ids, string? ExampleType) : PropertyValueType
{
    // A link to one of these can name something the machine makes itself (a board's device, bus, IRQ or memory region)
    // by its place in the QOM tree, which the spec cannot know; such links are not judged.
    private static readonly string[] MachineParts = ["device", "bus", "irq", "memory-region"];

    public override string Expected => Ids.Count == 0
        ? $"the id of a {Target} object declared in the spec (it declares none)"
        : $"the id of a {Target} object declared in the spec: {string.Join(", ", Ids)}";

    public override string Example => Ids.Count > 0
        ? Ids[0]
        : $"{ExampleId}, declared with '-object {ExampleType ?? Target},id={ExampleId},...' in ExtraArguments";

    private string ExampleId => Target.Split('-')[0] + "0";

    public override ValueProblem? Judge(string value) =>
        value.Length == 0 || value.Contains('/', StringComparison.Ordinal) || Ids.Contains(value, StringComparer.Ordinal)
            ? null
            : new ValueProblem(MachineSpecErrorCodes.LinkToUnknownId, $"names no {Target} object the spec declares",
                NearMiss.Suggest(value, Ids));

    public static LinkValueType? Parse(string type, QemuCatalog catalog, LinkTargets targets)
    {
        if (!type.StartsWith("link<", StringComparison.Ordinal) || !type.EndsWith('>') || targets.Objects is not { } objects)
        {
            return null;
        }

        var target = type[5..^1];
        return Ancestry(target, catalog).Any(t => MachineParts.Contains(t, StringComparer.Ordinal))
            ? null
            : new LinkValueType(type, target, IdsOf(target, objects, catalog), ConcreteTypeOf(target, catalog));
    }

    // The declared objects of the target's type; one whose type the catalog does not know is taken as a match.
    private static string[] IdsOf(string target, IReadOnlyList<LinkTarget> objects, QemuCatalog catalog) =>
        objects.Where(o => catalog.QomTypes.All(q => q.Name != o.Type) || Ancestry(o.Type, catalog).Contains(target, StringComparer.Ordinal))
            .Select(o => o.Id).Distinct(StringComparer.Ordinal).ToArray();

    private static IEnumerable<string> Ancestry(string type, QemuCatalog catalog)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (string? t = type; t is not null && seen.Add(t); t = catalog.QomTypes.FirstOrDefault(q => q.Name == t)?.Parent)
        {
            yield return t;
        }
    }

    // An -object type for the example: the target itself when it can be created, else a concrete type derived from it.
    private static string? ConcreteTypeOf(string target, QemuCatalog catalog) =>
        catalog.QomTypes.Where(q => !q.Abstract && Ancestry(q.Name, catalog).Contains(target, StringComparer.Ordinal))
            .OrderBy(q => q.Name == target ? 0 : 1).ThenBy(q => q.Name, StringComparer.Ordinal).Select(q => q.Name).FirstOrDefault();
}
