using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

[Collection(RealQemuValidation.Name)]
public sealed class FocusedMistakeTests(ValidationFixture fixture)
{
    [Theory]
    [MemberData(nameof(Mistakes.Names), MemberType = typeof(Mistakes))]
    public void One_mistake_yields_exactly_its_code_at_its_field(string mistake)
    {
        var expected = Mistakes.All[mistake];

        var errors = expected.Validate(fixture);

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(expected.Code, expected.Field)], because: string.Join("\n", errors));
        var error = errors[0];
        error.Machine.Should().Be(expected.Spec(fixture).Name);
        error.Severity.Should().Be(MachineSpecErrorCodes.Find(expected.Code).Severity);
        error.Message.Should().StartWith($"machine '{error.Machine}': {error.Field} '{error.Found}' ");
        error.Allowed.Should().NotBeNullOrWhiteSpace();
    }

    [Fact]
    public void Every_code_the_validator_can_emit_has_a_focused_mistake()
    {
        Mistakes.All.Values.Select(m => m.Code).Distinct()
            .Should().BeEquivalentTo(MachineSpecErrorCodes.All.Select(c => c.Code));
    }

    [Fact]
    public void Every_code_constant_is_listed_with_a_title()
    {
        var constants = typeof(MachineSpecErrorCodes).GetFields()
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!);

        constants.Should().BeEquivalentTo(MachineSpecErrorCodes.All.Select(c => c.Code));
        MachineSpecErrorCodes.All.Select(c => c.Code).Should().OnlyHaveUniqueItems().And.AllSatisfy(c => c.Should().MatchRegex("^QTK1[0-9]{3}$"));
    }
}
